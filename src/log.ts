import { pino, type Logger } from 'pino';

/**
 * The root logger. Components take children: `logger.child({ component: 'proxy' })`, and a
 * connection's lines carry `conn`. Level from FAULTLINE_LOG_LEVEL (default info; `silent` in tests).
 */
export const logger: Logger = pino({
  name: 'faultline',
  level: process.env.FAULTLINE_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type { Logger };
