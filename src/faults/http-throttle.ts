import { z } from 'zod';
import { rate } from '../policy/units.js';
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
  request: (options) => ({ throttle: options.rate }),
});
