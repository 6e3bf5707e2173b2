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

/** Where the root logger writes: JSON lines as pino makes them, or those lines as text. */
const sink = {
  format: 'json' as LogFormat,
  write(line: string): void {
    process.stdout.write(this.format === 'text' ? textLine(line) : line);
  },
};

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
