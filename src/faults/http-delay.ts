import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface HttpDelayOptions {
  delay: number;
  phase: 'request' | 'response';
}

/**
 * Delays one request: `phase: request` holds the request before it reaches the upstream,
 * `phase: response` holds the response head before it reaches the client.
 */
export const httpDelay = defineFault<HttpDelayOptions>({
  type: 'http_delay',
  summary: 'delay the request (or its response) by delay',
  layer: 'http',
  options: z.strictObject({ delay: duration, phase: z.enum(['request', 'response']).default('request') }),
  defaultStream: null,
  timeBounds: true,
  request: (options) => ({ delay: { ms: options.delay, phase: options.phase } }),
});
