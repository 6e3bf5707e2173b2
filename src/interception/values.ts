import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Validators for the values that reach iptables (CLI flags, pod annotations). Each returns
 * normalized values or throws a UsageError that names the value; nothing unvalidated is ever
 * passed on, and iptables is run with an argument vector, never through a shell.
 */

/** "80,443, 8080" → [80, 443, 8080]; "" → []; "*" is not a port list (handled by callers). */
export function parsePorts(value: string, what: string): number[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.map((item) => {
    if (!/^\d{1,5}$/.test(item) || Number(item) < 1 || Number(item) > 65535) {
      throw new UsageError(`${what}: "${item}" is not a port (1-65535); expected a comma-separated list such as "80,443"`);
    }
    return Number(item);
  });
}

/** A CIDR or a single IP, IPv4 or IPv6, normalized to "ADDR/PREFIX". */
export interface Cidr {
  cidr: string;
  family: 4 | 6;
}

/** "10.0.0.0/8,192.168.1.1" → [{cidr: "10.0.0.0/8", family: 4}, {cidr: "192.168.1.1/32", ...}]. */
export function parseCidrs(value: string, what: string): Cidr[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.map((item) => {
    const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(item);
    const family = m ? isIP(m[1] as string) : 0;
    const max = family === 6 ? 128 : 32;
    const prefix = m?.[2] === undefined ? max : Number(m[2]);
    if (!m || family === 0 || prefix > max) {
      throw new UsageError(`${what}: "${item}" is not an IP or CIDR; expected a comma-separated list such as "10.0.0.0/8,192.168.0.1"`);
    }
    return { cidr: `${m[1]}/${prefix}`, family: family as 4 | 6 };
  });
}

/** A numeric user id (the proxy's UID). */
export function parseUid(value: string, what: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 2 ** 32 - 2) throw new UsageError(`${what}: "${value}" is not a numeric user id`);
  return Number(value);
}
