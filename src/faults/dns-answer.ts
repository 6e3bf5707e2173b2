import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface DnsAnswerOptions {
  addresses?: string[] | undefined;
  random?: boolean | undefined;
  count: number;
  ttl: number;
}

/** Random answers come from ranges no one routes: 198.18.0.0/15 (RFC 2544) and 2001:db8::/32 (RFC 3849). */
function randomAddress(family: 4 | 6, random: () => number): string {
  const byte = () => Math.floor(random() * 256);
  if (family === 4) return `198.${18 + Math.floor(random() * 2)}.${byte()}.${byte()}`;
  const group = () => Math.floor(random() * 65536).toString(16);
  return `2001:db8:${group()}:${group()}:${group()}:${group()}:${group()}:${group()}`;
}

/**
 * Answers A and AAAA queries itself: with the given `addresses` (those of the query's family;
 * `[]` is an empty answer, NOERROR with no records), or with `count` random ones. Queries of
 * other types get an empty answer.
 */
export const dnsAnswer = defineFault<DnsAnswerOptions>({
  type: 'dns_answer',
  summary: 'answer DNS queries with fixed or random addresses, or an empty answer',
  options: z
    .strictObject({
      addresses: z.array(z.string().refine((v) => isIP(v) !== 0, 'expected an IPv4 or IPv6 address')).max(64).optional(),
      random: z.boolean().optional(),
      count: z.number().int().min(1).max(16).default(1),
      ttl: duration.default(10_000),
    })
    .refine((o) => (o.addresses === undefined) !== (o.random !== true), 'give addresses (a list, [] for an empty answer) or random: true, not both'),
  defaultStream: null,
  timeBounds: true,
  dns: (options, query, random) => {
    const family = query.type === 'A' ? 4 : query.type === 'AAAA' ? 6 : undefined;
    const ttl = Math.round(options.ttl / 1000);
    if (family === undefined) return { answer: { addresses: [], ttl } };
    const addresses = options.random
      ? Array.from({ length: options.count }, () => randomAddress(family, random))
      : (options.addresses ?? []).filter((a) => isIP(a) === family);
    return { answer: { addresses, ttl } };
  },
});
