import { z } from 'zod';
import { defineFault, type DnsErrorRcode } from './types.js';

interface DnsErrorOptions {
  rcode: DnsErrorRcode;
}

/** Answers the query with an error rcode and no records, as a failing resolver would. */
export const dnsError = defineFault<DnsErrorOptions>({
  type: 'dns_error',
  summary: 'answer DNS queries with rcode NXDOMAIN, SERVFAIL or REFUSED',
  options: z.strictObject({ rcode: z.enum(['NXDOMAIN', 'SERVFAIL', 'REFUSED']).default('SERVFAIL') }),
  defaultStream: null,
  timeBounds: true,
  dns: (options) => ({ rcode: options.rcode }),
});
