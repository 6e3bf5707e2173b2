import { z } from 'zod';
import { defineFault } from './types.js';

interface WsCloseOptions {
  code: number;
  reason: string;
}

/**
 * Closes the WebSocket on a message: both peers get a Close frame with `code` and `reason`,
 * then the connection ends.
 */
export const wsClose = defineFault<WsCloseOptions>({
  type: 'ws_close',
  summary: 'close the WebSocket with code and reason',
  layer: 'ws',
  options: z.strictObject({
    code: z
      .number()
      .int()
      .refine((c) => (c >= 1000 && c <= 1014 && ![1004, 1005, 1006].includes(c)) || (c >= 3000 && c <= 4999), 'code must be a sendable close code (1000-1014 but 1004-1006, or 3000-4999)')
      .default(1011),
    reason: z.string().refine((r) => Buffer.byteLength(r) <= 123, 'reason is at most 123 bytes').default('fault injected'),
  }),
  defaultStream: 'downstream',
  timeBounds: true,
  exchange: (options, x) => x.close(options.code, options.reason),
});
