import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface HttpDelayOptions {
  delay: number;
  jitter?: number | undefined;
  phase: 'request' | 'response';
}

/**
 * Delays one request by `delay` ± `jitter` (drawn per request): `phase: request` holds the
 * request before it reaches the upstream, `phase: response` holds the response head before it
 * reaches the client.
 */
export const httpDelay = defineFault<HttpDelayOptions>({
  type: 'http_delay',
  summary: 'delay the request (or its response) by delay ± jitter',
  layer: 'http',
  options: z.strictObject({ delay: duration, jitter: duration.optional(), phase: z.enum(['request', 'response']).default('request') }),
  defaultStream: null,
  timeBounds: true,
  request: (options, _shared, _now, random) => {
    const ms = Math.max(0, options.delay + (options.jitter ? options.jitter * (2 * random() - 1) : 0));
    return { delay: { ms, phase: options.phase } };
  },
});
