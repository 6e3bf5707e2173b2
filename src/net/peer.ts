import { isIP } from 'node:net';
import { parseHostPort } from './address.js';

/**
 * The one parser of the peer patterns rules match on: an IP ("10.1.2.3", "::1"), a CIDR
 * ("10.0.0.0/8", "fd00::/8"), a host name ("db.default.svc"), each optionally with a port
 * ("10.1.2.3:5432", "[::1]:80", "db.svc:5432"). Node's isIP takes only the standard forms
 * (four decimal parts, no 0x or shortened IPv4), and the prefix is decimal within the family's
 * range: a typo such as "10.0.0.0/" must not widen a rule to every address.
 */
export type Peer =
  | { kind: 'ip'; address: string; family: 4 | 6; prefix: number | undefined; port: number | undefined }
  | { kind: 'name'; name: string; port: number | undefined };

/** RFC 1123 host names (underscores allowed, as in service records), at most 253 characters. */
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?$`);

/** The pattern parsed, or why it is not one (a message for the policy's FILE:LINE:COL line). */
export function parsePeer(pattern: string): Peer | { error: string } {
  let host = pattern;
  let port: number | undefined;
  const withPort = /^(?:\[[^\]]*\]|[^:[\]]*):\d+$/.test(pattern) ? parseHostPort(pattern) : undefined;
  if (withPort) {
    if (withPort.port === 0) return { error: `port 0 in "${pattern}": ports are 1-65535` };
    ({ host, port } = withPort);
  } else if (/^(?:\[[^\]]*\]|[^:[\]]*):\d+$/.test(pattern)) {
    return { error: `"${pattern}": ports are 1-65535` };
  }
  const slash = host.indexOf('/');
  if (slash >= 0) {
    const ip = host.slice(0, slash);
    const bits = host.slice(slash + 1);
    const family = isIP(ip) as 0 | 4 | 6;
    if (family === 0) return { error: `"${pattern}": ${ip === '' || ip === '*' ? '' : `"${ip}" is not an IP address; `}a CIDR is IP/PREFIX, e.g. "10.0.0.0/8"` };
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits)) return { error: `"${pattern}": a CIDR's prefix length is a decimal number from 0 to ${max} after the "/", e.g. "10.0.0.0/8"` };
    if (Number(bits) > max) return { error: `"${pattern}": prefix length /${bits} is out of range for IPv${family} (0-${max})` };
    return { kind: 'ip', address: ip, family, prefix: Number(bits), port };
  }
  const family = isIP(host) as 0 | 4 | 6;
  if (family !== 0) return { kind: 'ip', address: host, family, prefix: undefined, port };
  // Four dotted numbers that isIP refused ("300.1.1.1") are a bad address, not a name.
  if (/^[\d.]+$/.test(host) || host.includes(':')) return { error: `"${pattern}" is not a valid IP address` };
  if (!HOST_NAME.test(host)) return { error: `"${pattern}" is not an IP, a CIDR ("10.0.0.0/8"), a host name or HOST:PORT` };
  return { kind: 'name', name: host.toLowerCase(), port };
}
