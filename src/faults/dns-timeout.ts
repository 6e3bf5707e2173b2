import { z } from 'zod';
import { defineFault } from './types.js';

/** The query is never answered (nor forwarded): the client's own timeout and retries play out. */
export const dnsTimeout = defineFault({
  type: 'dns_timeout',
  summary: 'never answer DNS queries',
  options: z.strictObject({}),
  defaultStream: null,
  timeBounds: true,
  dns: () => ({ drop: true }),
});
