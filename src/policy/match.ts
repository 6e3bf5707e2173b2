import { BlockList, isIP } from 'node:net';
import type { MatchSpec } from './schema.js';

/** What rules match on: known when a connection is accepted, before any byte is read. */
export interface ConnectionMeta {
  /** The explicit listener's name; undefined for transparently captured traffic. */
  listener?: string | undefined;
  direction: 'inbound' | 'outbound';
  source: { address: string; port: number };
  /** `host` is the name the listener's upstream was written with, when it is not an IP. */
  destination: { address: string; port: number; host?: string | undefined };
}

export type Matcher = (meta: ConnectionMeta) => boolean;

/** "::ffff:10.0.0.1" → "10.0.0.1", so IPv4 CIDRs match dual-stack sockets. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * A peer pattern: "10.0.0.0/8", "10.1.2.3", "10.1.2.3:5432", "[::1]:80", "db.svc", "db.svc:5432".
 * Names compare with the name an upstream was configured with (no DNS lookups on the hot path).
 */
function compilePeer(pattern: string): (peer: { address: string; port: number; host?: string | undefined }) => boolean {
  let host = pattern;
  let port: number | undefined;
  const withPort = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d+)$/.exec(pattern);
  if (withPort) {
    host = (withPort[1] ?? withPort[2]) as string;
    port = Number(withPort[3]);
  }
  const portOk = (p: number) => port === undefined || p === port;
  const slash = host.indexOf('/');
  const ip = slash >= 0 ? host.slice(0, slash) : host;
  const family = isIP(ip);
  if (family !== 0) {
    const list = new BlockList();
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (slash >= 0) list.addSubnet(ip, Number(host.slice(slash + 1)), type);
    else list.addAddress(ip, type);
    return (peer) => {
      if (!portOk(peer.port)) return false;
      const address = plainAddress(peer.address);
      const peerFamily = isIP(address);
      return peerFamily !== 0 && list.check(address, peerFamily === 6 ? 'ipv6' : 'ipv4');
    };
  }
  const name = host.toLowerCase();
  return (peer) => portOk(peer.port) && (peer.host?.toLowerCase() === name || peer.address === name);
}

/** All given fields must match; an omitted field matches anything. */
export function compileMatch(spec: MatchSpec): Matcher {
  const checks: Matcher[] = [];
  if (spec.listener !== undefined) checks.push((m) => m.listener === spec.listener);
  if (spec.direction !== undefined) checks.push((m) => m.direction === spec.direction);
  if (spec.ports?.length) {
    const ports = new Set(spec.ports);
    checks.push((m) => ports.has(m.destination.port));
  }
  if (spec.destinations?.length) {
    const peers = spec.destinations.map(compilePeer);
    checks.push((m) => peers.some((p) => p(m.destination)));
  }
  if (spec.sources?.length) {
    const peers = spec.sources.map(compilePeer);
    checks.push((m) => peers.some((p) => p(m.source)));
  }
  return (meta) => checks.every((check) => check(meta));
}
