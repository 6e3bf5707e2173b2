import { z } from 'zod';
import { duration } from '../policy/units.js';
import { envoyInteger, envoyPercentage } from './envoy-headers.js';
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
  exchange: (options, x, { random }) => {
    x.hold(Math.max(0, options.delay + (options.jitter ? options.jitter * (2 * random() - 1) : 0)), options.phase);
  },
  // x-envoy-fault-delay-request: a delay (ms) no longer than the rule's.
  headerOverride: (options, headers, probability) => {
    const ms = envoyInteger(headers, 'delay-request', 0, 1e9);
    if (ms === undefined) return undefined;
    return { options: { ...options, delay: Math.min(ms, options.delay) }, probability: envoyPercentage(headers, 'delay-request', probability) };
  },
  randomDefault: { type: 'http_delay', delay: '1s' },
});
