import { pino, type Logger } from 'pino';

/** The levels faultline logs at, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `text` for people (one line per event, what a terminal gets by default), `json` for collectors. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
// Fields every line has, which the text form shows in its own place (or not at all).
const FRAMED = new Set(['level', 'time', 'msg', 'pid', 'name', 'component']);

/** One JSON log line as text: `12:00:01.234 INFO  proxy: listening address=127.0.0.1:8080`. */
export function textLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = (LEVEL_NAMES[entry.level as number] ?? String(entry.level)).padEnd(5);
  const component = typeof entry.component === 'string' ? `${entry.component}: ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !FRAMED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  return `${[time, level, `${component}${String(entry.msg ?? '')}`, ...fields].join(' ')}\n`;
}

function isLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

function isFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

/** Why a level (from a flag or FAULTLINE_LOG_LEVEL) is refused, or undefined when it is one of LOG_LEVELS. */
export function logLevelProblem(value: string, source: string): string | undefined {
  return isLevel(value) ? undefined : `${source}: unknown log level ${JSON.stringify(value)}; use one of ${LOG_LEVELS.join(', ')}`;
}

/** Why a format is refused, or undefined when it is text or json. */
export function logFormatProblem(value: string, source: string): string | undefined {
  return isFormat(value) ? undefined : `${source}: unknown log format ${JSON.stringify(value)}; use text or json`;
}

const envLevel = process.env.FAULTLINE_LOG_LEVEL || 'info';

/**
 * stdout, written asynchronously. Lines wait in memory while the reader is slow, up to
 * LOG_BUFFER_BYTES; beyond that they are dropped rather than grow the heap.
 */
const LOG_BUFFER_BYTES = 8 * 1024 * 1024;
const destination = pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES });
/** Set by the first failed write to stdout (EPIPE once its reader is gone): nothing more will get through. */
let stdoutBroken = false;
destination.on('error', () => {
  stdoutBroken = true;
});

const toStdout = (line: string): void => void destination.write(line);

/** Where the root logger writes: JSON lines as pino makes them, or those lines as text. */
const sink = {
  format: 'json' as LogFormat,
  out: toStdout,
  write(line: string): void {
    this.out(this.format === 'text' ? textLine(line) : line);
  },
};

/** Sends the root logger's lines (as `--log-format` has them) to `out` instead of stdout; undefined puts stdout back. */
export function redirectLog(out: ((line: string) => void) | undefined): void {
  sink.out = out ?? toStdout;
}

/**
 * The root logger. Components take children: `logger.child({ component: 'proxy' })`, and a
 * connection's lines carry `conn`. Level from FAULTLINE_LOG_LEVEL (default info; `silent` in
 * tests); an unknown level starts as info and the CLI refuses it before any command runs.
 */
export const logger: Logger = pino(
  {
    name: 'faultline',
    level: isLevel(envLevel) ? envLevel : 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  sink,
);

/**
 * Before `process.exit`: gives pending lines up to `timeoutMs` to reach stdout, then gives up on
 * them. pino's exit hook flushes synchronously and sonic-boom retries a failed write (EPIPE, a
 * full pipe nobody reads) every 100 ms forever: a sidecar whose log reader is gone would never exit.
 */
export async function flushLog(timeoutMs = 1000): Promise<void> {
  // sonic-boom has no public count of the bytes not written yet.
  const pending = () => (destination as unknown as { _len: number })._len;
  const deadline = Date.now() + timeoutMs;
  while (!stdoutBroken && pending() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  destination.flushSync = () => {};
}

/**
 * Sets the root logger's level and format (children follow). `format` auto: text when standard
 * output is a terminal, JSON otherwise (a pod's log, a file, a pipe).
 */
export function configureLogging(options: { level?: LogLevel; format?: LogFormat | 'auto' }): void {
  if (options.level !== undefined) logger.level = options.level;
  const format = options.format ?? 'auto';
  sink.format = format === 'auto' ? (process.stdout.isTTY === true ? 'text' : 'json') : format;
}

export { isFormat as isLogFormat, isLevel as isLogLevel };
export type { Logger };
