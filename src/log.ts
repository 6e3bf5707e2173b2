import { pino, type Logger } from 'pino';

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

/**
 * The root logger. Components take children: `logger.child({ component: 'proxy' })`, and a
 * connection's lines carry `conn`. Level from FAULTLINE_LOG_LEVEL (default info; `silent` in tests).
 */
export const logger: Logger = pino(
  {
    name: 'faultline',
    level: process.env.FAULTLINE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  destination,
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

export type { Logger };
