import { Command, CommanderError, Help, Option } from 'commander';
import { FaultlineError, PositionedError, UsageError } from '../errors.js';
import { configureLogging, isLogFormat, isLogLevel, LOG_LEVELS, logFormatProblem, logLevelProblem } from '../log.js';
import { VERSION } from '../version.js';
import { commands } from './commands/index.js';
import { commandPath, helpAfter } from './help.js';
import { output } from './output.js';

interface GlobalFlags {
  logLevel?: string;
  logFormat?: string;
  debug?: boolean;
}

/** Sets the log level and format from the flags, else the environment; a bad value is a usage error naming the choices. */
function applyLogging(flags: GlobalFlags): void {
  // An empty variable is an unset one.
  const level = flags.logLevel ?? (process.env.FAULTLINE_LOG_LEVEL || undefined);
  const format = flags.logFormat ?? (process.env.FAULTLINE_LOG_FORMAT || undefined);
  const levelProblem = level === undefined ? undefined : logLevelProblem(level, flags.logLevel !== undefined ? '--log-level' : 'FAULTLINE_LOG_LEVEL');
  if (levelProblem) throw new UsageError(levelProblem);
  const formatProblem = format === undefined ? undefined : logFormatProblem(format, flags.logFormat !== undefined ? '--log-format' : 'FAULTLINE_LOG_FORMAT');
  if (formatProblem) throw new UsageError(formatProblem);
  configureLogging({
    ...(level !== undefined && isLogLevel(level) ? { level } : {}),
    format: format !== undefined && isLogFormat(format) ? format : 'auto',
  });
}

/** Commander's help, without `(default: "")` on options whose default is "nothing". */
class FaultlineHelp extends Help {
  override optionDescription(option: Option): string {
    return super.optionDescription(option).replace(/ \(default: ""\)/, '');
  }
}

/** Every command under `command`, itself included. */
function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** The `faultline` program with every sub-command registered (each in `commands/<name>.ts`). */
export function buildProgram(): Command {
  const program = new Command('faultline')
    .description('Sidecar network fault injector for Kubernetes')
    .version(VERSION, '-v, --version', 'print the version and exit')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: $FAULTLINE_LOG_LEVEL, else info)`)
    .option('--log-format <format>', 'log format: text or json (default: $FAULTLINE_LOG_FORMAT, else text on a terminal, json otherwise)')
    .option('--debug', 'print the stack trace of an unexpected error')
    .exitOverride();
  program.configureHelp({ showGlobalOptions: true });
  program.createHelp = () => Object.assign(new FaultlineHelp(), program.configureHelp());
  program.hook('preAction', () => applyLogging(program.opts<GlobalFlags>()));
  for (const register of commands) register(program);
  for (const command of allCommands(program)) {
    command.createHelp = program.createHelp;
    // Help and usage errors go through `output`; a usage error is one line naming the help to read.
    const help = `faultline ${commandPath(command)} --help`.replace('  ', ' ');
    command.configureOutput({
      writeOut: (text) => output.stdout(text),
      writeErr: (text) => output.stderr(text),
      outputError: (text, write) => write(`${text.trim().replace(/^error: /, 'faultline: ').replace(/\.$/, '')} (see '${help}')\n`),
    });
    command.addHelpText('after', () => helpAfter(command));
  }
  return program;
}

/** Stack traces are for whoever asked for them (`--debug`, FAULTLINE_DEBUG=1). */
function debugging(program: Command | undefined): boolean {
  return program?.opts<GlobalFlags>().debug === true || process.env.FAULTLINE_DEBUG === '1';
}

/**
 * Runs `faultline ARGV` and resolves with its exit code, the same for every command: 0 done,
 * 1 failed, 2 usage error (an unknown command or flag, a bad flag value, a missing argument).
 * Errors are one line, `faultline: ...`, saying what to do; stack traces only with --debug. A
 * command's action returns when its work is done, or keeps running (sidecar, webhook, demo)
 * until a signal.
 */
export async function main(argv: string[]): Promise<number> {
  let program: Command | undefined;
  try {
    program = buildProgram();
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const { text, code } = errorReport(err, debugging(program));
    if (text) output.stderr(text);
    return code;
  }
}

/**
 * What `faultline` prints for an error that ended a command, and its exit code: commander's
 * usage errors are already printed (2; help and --version 0); a UsageError is 2; a policy or
 * experiment that does not validate prints its FILE:LINE:COL lines; any other error one line,
 * `faultline: ...` (1). An unexpected error (a bug) gets its stack only with --debug.
 */
export function errorReport(err: unknown, debug: boolean): { text: string; code: number } {
  if (err instanceof CommanderError) return { text: '', code: err.exitCode === 0 ? 0 : 2 };
  const code = err instanceof UsageError ? 2 : 1;
  if (err instanceof PositionedError) return { text: `${err.lines().join('\n')}\n`, code };
  if (err instanceof FaultlineError) return { text: `faultline: ${err.message}\n`, code };
  const message = err instanceof Error ? err.message : String(err);
  if (debug) return { text: `faultline: unexpected error: ${err instanceof Error ? err.stack : message}\n`, code };
  return { text: `faultline: unexpected error: ${message} (run again with --debug for the stack trace)\n`, code };
}
