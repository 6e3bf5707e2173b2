import { z } from 'zod';
import { defineFault, type SharedState } from './types.js';

interface RateLimitOptions {
  /** New connections (L7 rules: requests) per second. */
  rate: number;
  /** Connections allowed at once above the rate; defaults to the rate (one second's worth). */
  burst?: number | undefined;
}

/** Takes a token from the rule's bucket; a string (the reason) when it is empty. */
function take(options: RateLimitOptions, shared: SharedState, now: number): string | undefined {
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
}

/**
 * A token bucket of new connections, shared by every connection the rule matches: a
 * connection that finds the bucket empty is reset at once.
 * In a rule with an L7 match (protocol http/grpc) the bucket counts requests instead, and a
 * request that finds it empty is answered 429 (gRPC: RESOURCE_EXHAUSTED).
 */
export const rateLimit = defineFault<RateLimitOptions>({
  type: 'rate_limit',
  summary: 'allow rate new connections (L7: requests) per second with burst; reset (L7: 429) the rest',
  options: z.strictObject({
    rate: z.number().positive('rate must be greater than 0 (connections per second)'),
    burst: z.number().int().positive('burst must be a positive whole number').optional(),
  }),
  defaultStream: null,
  timeBounds: false,
  admit: take,
  exchange: (options, x, { shared, now }) => {
    const refused = take(options, shared, now);
    if (refused !== undefined) x.answer({ status: 429, grpcStatus: 8, grpcMessage: refused, retryable: true });
  },
});
