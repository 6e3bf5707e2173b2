import { z } from 'zod';
import { defineFault } from './types.js';

interface RateLimitOptions {
  /** New connections per second. */
  rate: number;
  /** Connections allowed at once above the rate; defaults to the rate (one second's worth). */
  burst?: number | undefined;
}

/**
 * A token bucket of new connections, shared by every connection the rule matches: a
 * connection that finds the bucket empty is reset at once.
 */
export const rateLimit = defineFault<RateLimitOptions>({
  type: 'rate_limit',
  summary: 'allow rate new connections per second (burst), reset the rest',
  options: z.strictObject({
    rate: z.number().positive('rate must be greater than 0 (connections per second)'),
    burst: z.number().int().positive('burst must be a positive whole number').optional(),
  }),
  defaultStream: null,
  timeBounds: false,
  admit: (options, shared, now) => {
    const capacity = options.burst ?? Math.max(1, Math.ceil(options.rate));
    const last = shared.refilledAt ?? now;
    const tokens = Math.min(capacity, (shared.tokens ?? capacity) + ((now - last) / 1000) * options.rate);
    shared.refilledAt = now;
    if (tokens < 1) {
      shared.tokens = tokens;
      return `rate limited (${options.rate}/s, burst ${capacity})`;
    }
    shared.tokens = tokens - 1;
    return undefined;
  },
});
