import { z } from 'zod';
import { defineFault } from './types.js';

/**
 * Answers a UDP query with the TC (truncated) bit and no records, so the client asks again over
 * TCP. Queries over TCP pass (a truncated TCP answer would only make the client give up).
 */
export const dnsTruncate = defineFault({
  type: 'dns_truncate',
  summary: 'answer DNS queries over UDP truncated (TC bit), so clients retry over TCP',
  options: z.strictObject({}),
  defaultStream: null,
  timeBounds: true,
  dns: (_options, query) => (query.transport === 'udp' ? { truncate: true } : undefined),
});
