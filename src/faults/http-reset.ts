import { z } from 'zod';
import { defineFault } from './types.js';

/**
 * Resets instead of answering, as a crashing upstream or a dropped connection would: on
 * HTTP/1.1 the client connection gets a TCP RST (requests pipelined behind it fail too); on
 * HTTP/2 only the request's stream is reset (RST_STREAM, INTERNAL_ERROR).
 */
export const httpReset = defineFault<Record<string, never>>({
  type: 'http_reset',
  summary: 'reset the connection (HTTP/2: the stream) instead of answering',
  layer: 'http',
  options: z.strictObject({}),
  defaultStream: null,
  timeBounds: true,
  exchange: (_options, x) => x.reset(),
  randomDefault: { type: 'http_reset' },
});
