import { Command, CommanderError } from 'commander';
import { FaultlineError } from '../errors.js';
import { logger } from '../log.js';
import { commands } from './commands/index.js';
import { VERSION } from '../version.js';

/**
 * `faultline` entry point. Each sub-command lives in `commands/<name>.ts` and registers itself;
 * a command's action returns (or resolves) when its work is done, or keeps running (sidecar,
 * webhook, demo) until a signal.
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('faultline')
    .description('Sidecar network fault injector for Kubernetes')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof FaultlineError) {
      process.stderr.write(`faultline: ${err.message}\n`);
      return 1;
    }
    logger.fatal({ err }, 'unexpected error');
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
