import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { parseHostPort } from '../net/address.js';

/** Where the DNS proxy forwards: a resolver's IP and port. */
export interface DnsUpstream {
  host: string;
  port: number;
}

/**
 * The pod's own resolver: the first `nameserver` of resolv.conf (in a pod, the cluster DNS
 * service the kubelet wrote there), port 53. resolv.conf is a list of lines of words; nothing
 * of DNS itself is parsed here.
 */
export function systemResolver(file = '/etc/resolv.conf'): DnsUpstream {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`the DNS proxy cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give --dns-upstream IP:PORT`);
  }
  for (const line of text.split('\n')) {
    const [keyword, address] = line.trim().split(/\s+/);
    // A zone index ("fe80::1%eth0") has no place in a socket address here.
    if (keyword === 'nameserver' && address && !address.includes('%') && isIP(address) !== 0) return { host: address, port: 53 };
  }
  throw new UsageError(`no nameserver in ${file}: give --dns-upstream IP:PORT`);
}

/** `--dns-upstream IP:PORT` (a resolver is an address: a name would need a resolver to find it). */
export function parseDnsUpstream(value: string, what = '--dns-upstream'): DnsUpstream {
  const parsed = parseHostPort(value);
  if (!parsed || isIP(parsed.host) === 0 || parsed.port === 0) throw new UsageError(`${what}: "${value}" must be a resolver's IP:PORT, e.g. 10.96.0.10:53 or [fd00::a]:53`);
  return parsed;
}
