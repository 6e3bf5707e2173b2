import { Command, CommanderError } from 'commander';
import { FaultlineError } from '../errors.js';
import { logger } from '../log.js';
import { VERSION } from '../version.js';
import { commands } from './commands/index.js';
import { output } from './output.js';

/** The `faultline` program with every sub-command registered (each in `commands/<name>.ts`). */
export function buildProgram(): Command {
  const program = new Command('faultline').description('Sidecar network fault injector for Kubernetes').version(VERSION).exitOverride().showHelpAfterError();
  // Sub-commands inherit this: usage errors and help go through `output` too.
  program.configureOutput({ writeOut: (text) => output.stdout(text), writeErr: (text) => output.stderr(text) });
  for (const register of commands) register(program);
  return program;
}

/**
 * Runs `faultline ARGV` and resolves with its exit code. A command's action returns (or
 * resolves) when its work is done, or keeps running (sidecar, webhook, demo) until a signal.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof FaultlineError) {
      output.stderr(`faultline: ${err.message}\n`);
      return 1;
    }
    logger.fatal({ err }, 'unexpected error');
    return 1;
  }
}
