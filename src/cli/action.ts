import { CommanderError, type Command } from 'commander';
import { FaultlineError, PositionedError, UsageError } from '../errors.js';
import { output } from './output.js';

/** Makes a command's usage errors (unknown flag, missing argument) exit 2, as the contract says. */
export function usageExits(command: Command): Command {
  return command.exitOverride((err) => {
    throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
  });
}

/**
 * Wraps a command's action that resolves with its exit code: a UsageError exits 2, any other
 * faultline error 1, each printed as one line (a file that does not validate as its
 * FILE:LINE:COL lines, as `faultline validate` prints them).
 */
export function commandAction<A extends unknown[]>(action: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await action(...args);
    } catch (err) {
      if (!(err instanceof FaultlineError)) throw err;
      output.stderr(err instanceof PositionedError ? `${err.lines().join('\n')}\n` : `faultline: ${err.message}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    }
  };
}
