import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface DnsDelayOptions {
  delay: number;
  jitter: number;
}

/** Holds the query `delay` ± `jitter` (drawn per query) before it is forwarded or answered. */
export const dnsDelay = defineFault<DnsDelayOptions>({
  type: 'dns_delay',
  summary: 'delay DNS answers by delay ± jitter',
  options: z.strictObject({ delay: duration, jitter: duration.default(0) }),
  defaultStream: null,
  timeBounds: true,
  dns: (options, _query, random) => ({ delayMs: Math.max(0, options.delay + (options.jitter ? options.jitter * (2 * random() - 1) : 0)) }),
});
