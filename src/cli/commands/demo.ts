import type { Command } from 'commander';
import { runDemo } from '../../demo.js';
import { configureLogging, logger } from '../../log.js';
import { integerFlag } from '../flags.js';
import { output } from '../output.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('a demo upstream and a sidecar with an example policy on loopback, and what to try')
    .option('--base-port <port>', 'first of four listener ports (0 = any free ports)', integerFlag(0, 65532), 18080)
    .option('--once', 'run the tour and exit')
    .action(async (flags: { basePort: number; once?: boolean }, command: Command) => {
      // The demo talks to a person: only warnings and errors from the sidecar's log, unless asked.
      const globals = command.optsWithGlobals<{ logLevel?: string; logFormat?: string }>();
      if (!process.env.FAULTLINE_LOG_LEVEL && globals.logLevel === undefined) logger.level = 'warn';
      // ...and those as text lines, not JSON, between the demo's own.
      if (!process.env.FAULTLINE_LOG_FORMAT && globals.logFormat === undefined) configureLogging({ format: 'text' });
      const { sidecar, upstream, servers, removeDir } = await runDemo({
        basePort: flags.basePort,
        once: flags.once === true,
        out: (line) => output.stdout(`${line}\n`),
      });
      const stop = async () => {
        await sidecar.drain(1000);
        for (const server of [upstream, ...servers]) {
          server.close();
          server.closeAllConnections();
        }
        removeDir();
      };
      if (flags.once) return stop();
      process.once('SIGINT', () => void stop().then(() => process.exit(0)));
      process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
    });
}
