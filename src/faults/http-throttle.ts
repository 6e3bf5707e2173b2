import { z } from 'zod';
import { rate } from '../policy/units.js';
import { envoyInteger, envoyPercentage } from './envoy-headers.js';
import { defineFault } from './types.js';

interface HttpThrottleOptions {
  rate: number;
}

/** Paces one response's bytes (head and body) at `rate`; other requests are untouched. */
export const httpThrottle = defineFault<HttpThrottleOptions>({
  type: 'http_throttle',
  summary: 'pace the response at rate',
  layer: 'http',
  options: z.strictObject({ rate }),
  defaultStream: null,
  timeBounds: true,
  exchange: (options, x) => x.pace(options.rate),
  // x-envoy-fault-throughput-response (KiB/s): a rate no lower than the rule's.
  headerOverride: (options, headers, probability) => {
    const kib = envoyInteger(headers, 'throughput-response', 1, 1e9);
    if (kib === undefined) return undefined;
    return { options: { ...options, rate: Math.max(kib * 1024, options.rate) }, probability: envoyPercentage(headers, 'throughput-response', probability) };
  },
});
