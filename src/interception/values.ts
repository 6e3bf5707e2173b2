import { isIP } from 'node:net';
import { InvalidValueError, UsageError } from '../errors.js';

/**
 * Validators for the values that reach iptables (CLI flags, pod annotations). Each returns
 * normalized values or throws a UsageError that names the value; nothing unvalidated is ever
 * passed on, and iptables is run with an argument vector, never through a shell.
 */

/** More items than this is a mistake, not a configuration: each one becomes an iptables rule. */
export const MAX_LIST_ITEMS = 128;

function splitList(value: string, what: string, example: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length > MAX_LIST_ITEMS) throw new UsageError(`${what}: ${items.length} items, at most ${MAX_LIST_ITEMS} are allowed (e.g. "${example}")`);
  return items;
}

/** "80,443, 8080" → [80, 443, 8080] (duplicates dropped); "" → []; "*" is not a port list (callers handle it). */
export function parsePorts(value: string, what: string): number[] {
  const ports = splitList(value, what, '80,443').map((item) => {
    if (!/^[1-9]\d{0,4}$/.test(item) || Number(item) > 65535) {
      throw new InvalidValueError(what, item, 'is not a port (1-65535)', 'a comma-separated list such as "80,443"');
    }
    return Number(item);
  });
  return [...new Set(ports)];
}

/** A CIDR or a single IP, IPv4 or IPv6, normalized to "ADDR/PREFIX". */
export interface Cidr {
  cidr: string;
  family: 4 | 6;
}

/** The 4 or 16 bytes of an address that `isIP` accepted. */
function addressBytes(address: string, family: 4 | 6): number[] {
  if (family === 4) return address.split('.').map(Number);
  // The URL parser gives the canonical RFC 5952 text (embedded IPv4 turned into hex groups).
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const groups = (text: string) => (text === '' ? [] : text.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function formatAddress(bytes: number[], family: 4 | 6): string {
  if (family === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The address with every bit past `prefix` cleared. */
function networkOf(bytes: number[], prefix: number): number[] {
  return bytes.map((byte, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
}

/** An IP or CIDR read apart: its bytes, family and prefix; or why it is not one. */
function readCidr(text: string): { bytes: number[]; family: 4 | 6; prefix: number } | string {
  const m = /^([0-9a-fA-F:.]+)(?:\/(0|[1-9]\d{0,2}))?$/.exec(text);
  const address = m?.[1] ?? '';
  const family = isIP(address);
  if (!m || (family !== 4 && family !== 6)) return 'is not an IP or CIDR';
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) return `has a prefix over /${max}`;
  return { bytes: addressBytes(address, family), family, prefix };
}

/**
 * "10.0.0.0/8,192.168.1.1" → [{cidr: "10.0.0.0/8", family: 4}, {cidr: "192.168.1.1/32", ...}].
 * Strict: dotted quads without leading zeros, IPv6 without zone, prefix within the family's
 * length, and no host bits set ("10.0.0.1/8" is refused with the network it probably means).
 */
export function parseCidrs(value: string, what: string): Cidr[] {
  const cidrs = splitList(value, what, '10.0.0.0/8,fd00::/8').map((item): Cidr => {
    const read = readCidr(item);
    const bad = (why: string) => new InvalidValueError(what, item, why, 'a comma-separated list of IPs or CIDRs such as "10.0.0.0/8,192.168.0.1"');
    if (typeof read === 'string') throw bad(read);
    const { bytes, family, prefix } = read;
    const network = networkOf(bytes, prefix);
    if (network.some((byte, i) => byte !== bytes[i])) throw bad(`has host bits set (did you mean ${formatAddress(network, family)}/${prefix}?)`);
    return { cidr: `${formatAddress(bytes, family)}/${prefix}`, family };
  });
  return cidrs.filter((c, i) => cidrs.findIndex((d) => d.cidr === c.cidr) === i);
}

/**
 * A policy's IP or CIDR as the kernel will see it: normalized, host bits cleared (the policy
 * matcher ignores them too: "10.0.0.1/8" matches 10.0.0.0/8). Undefined for anything that is not
 * an IP or CIDR (a host name), which no iptables rule can express.
 */
export function networkCidr(text: string): Cidr | undefined {
  // The matcher reads the prefix as a number, so "/08" is /8 there too.
  const read = readCidr(text.replace(/\/0+(?=\d)/, '/'));
  if (typeof read === 'string') return undefined;
  return { cidr: `${formatAddress(networkOf(read.bytes, read.prefix), read.family)}/${read.prefix}`, family: read.family };
}

/** The addresses two CIDRs have in common, as a CIDR (the narrower one), or undefined. */
export function intersectCidrs(a: Cidr, b: Cidr): Cidr | undefined {
  if (a.family !== b.family) return undefined;
  const [narrow, wide] = [a, b].sort((x, y) => prefixOf(y) - prefixOf(x)) as [Cidr, Cidr];
  const [address] = narrow.cidr.split('/') as [string];
  const inside = networkOf(addressBytes(address, narrow.family), prefixOf(wide));
  return formatAddress(inside, wide.family) === wide.cidr.split('/')[0] ? narrow : undefined;
}

const prefixOf = (c: Cidr) => Number(c.cidr.split('/')[1]);

/** A numeric user id (the proxy's UID). */
export function parseUid(value: string, what: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 2 ** 32 - 2) throw new UsageError(`${what}: "${value}" is not a numeric user id`);
  return Number(value);
}
