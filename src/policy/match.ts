import { BlockList, isIP } from 'node:net';
import type { DnsQuestion } from '../faults/types.js';
import { parseHostPort } from '../net/address.js';
import { parsePeer } from '../net/peer.js';
import type { MatchSpec } from './schema.js';

/** What rules match on: known when a connection is accepted, before any byte is read. */
export interface ConnectionMeta {
  /** The explicit listener's name; undefined for transparently captured traffic. */
  listener?: string | undefined;
  direction: 'inbound' | 'outbound';
  source: { address: string; port: number };
  /** `host` is the name the listener's upstream was written with, when it is not an IP. */
  destination: { address: string; port: number; host?: string | undefined };
  /** The TLS server name from the ClientHello, once the connection was inspected for it. */
  sni?: string | undefined;
  /** The connection's first bytes were a TLS ClientHello (`protocol: tls` rules match from then on). */
  tls?: boolean | undefined;
}

/** One HTTP request (HTTP/1.x, HTTP/2, gRPC) or WebSocket handshake, as L7 rules see it. */
export interface RequestMeta {
  protocol: 'http' | 'grpc' | 'ws';
  /** Upper case, e.g. GET. */
  method: string;
  /** The path without the query string (gRPC: /pkg.Service/Method). */
  path: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

export type RequestMatcher = (request: RequestMeta) => boolean;

/** A glob where `*` matches any run of characters (including "/") and `?` one character. */
export function compileGlob(pattern: string, flags = ''): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

export type Matcher = (meta: ConnectionMeta) => boolean;

/** "::ffff:10.0.0.1" → "10.0.0.1", so IPv4 CIDRs match dual-stack sockets. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A peer pattern's host part (IP, CIDR or name) and port: "[::1]:80" → {host: "::1", port: 80}. */
export function splitPeer(pattern: string): { host: string; port: number | undefined } {
  const withPort = parseHostPort(pattern);
  return withPort ?? { host: pattern, port: undefined };
}

/**
 * A peer pattern (see parsePeer): "10.0.0.0/8", "10.1.2.3", "10.1.2.3:5432", "[::1]:80", "db.svc".
 * Names compare with the name an upstream was configured with (no DNS lookups on the hot path).
 * The schema refused malformed patterns already; one that slips through matches nothing.
 */
function compilePeer(pattern: string): (peer: { address: string; port: number; host?: string | undefined }) => boolean {
  const parsed = parsePeer(pattern);
  if ('error' in parsed) return () => false;
  const { port } = parsed;
  const portOk = (p: number) => port === undefined || p === port;
  if (parsed.kind === 'ip') {
    const list = new BlockList();
    const type = parsed.family === 6 ? 'ipv6' : 'ipv4';
    if (parsed.prefix !== undefined) list.addSubnet(parsed.address, parsed.prefix, type);
    else list.addAddress(parsed.address, type);
    return (peer) => {
      if (!portOk(peer.port)) return false;
      const address = plainAddress(peer.address);
      const peerFamily = isIP(address);
      return peerFamily !== 0 && list.check(address, peerFamily === 6 ? 'ipv6' : 'ipv4');
    };
  }
  const { name } = parsed;
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
  if (spec.protocol === 'tls') checks.push((m) => m.tls === true);
  if (spec.sni !== undefined) {
    const glob = compileGlob(spec.sni, 'i');
    checks.push((m) => m.sni !== undefined && glob.test(m.sni));
  }
  return (meta) => checks.every((check) => check(meta));
}

/** The DNS part of a rule's match: which questions its faults act on. */
export type DnsMatcher = (question: DnsQuestion) => boolean;

/** `match.dns`: a name glob (case-insensitive, trailing dot ignored) and a record type must match; omitted = any. */
export function compileDnsMatch(spec: NonNullable<MatchSpec['dns']>): DnsMatcher {
  const names = spec.names?.map((n) => compileGlob(n.toLowerCase().replace(/\.$/, '')));
  const types = spec.types?.length ? new Set<string>(spec.types) : undefined;
  return (q) => (names === undefined || names.length === 0 || names.some((g) => g.test(q.name))) && (types === undefined || types.has(q.type));
}

/** The protocols of connection rules: tcp (anything), tls (TLS connections). The others are L7. */
export const CONNECTION_PROTOCOLS: readonly unknown[] = ['tcp', 'tls'];

/** Whether a rule looks at requests: a protocol other than tcp and tls, or an http/grpc match. */
export function isRequestMatch(spec: MatchSpec): boolean {
  return (spec.protocol !== undefined && !CONNECTION_PROTOCOLS.includes(spec.protocol)) || spec.http !== undefined || spec.grpc !== undefined;
}

/**
 * The request part of a match. `protocol` defaults to grpc with a grpc match, else http;
 * `ws` rules match the WebSocket handshake request (and then its messages).
 */
export function compileRequestMatch(spec: MatchSpec): RequestMatcher {
  const protocol = spec.protocol === undefined || CONNECTION_PROTOCOLS.includes(spec.protocol) ? (spec.grpc ? 'grpc' : 'http') : spec.protocol;
  const checks: RequestMatcher[] = [(r) => r.protocol === protocol];
  const { http, grpc } = spec;
  if (http?.methods?.length) {
    const methods = new Set(http.methods.map((m) => m.toUpperCase()));
    checks.push((r) => methods.has(r.method));
  }
  if (http?.paths?.length) {
    const globs = http.paths.map((p) => compileGlob(p));
    checks.push((r) => globs.some((g) => g.test(r.path)));
  }
  if (http?.headers) {
    const wanted = Object.entries(http.headers).map(([name, value]) => [name.toLowerCase(), compileGlob(value)] as const);
    checks.push((r) => wanted.every(([name, glob]) => r.headers[name] !== undefined && glob.test(r.headers[name] as string)));
  }
  if (grpc?.methods?.length) {
    const globs = grpc.methods.map((m) => compileGlob(m));
    checks.push((r) => globs.some((g) => g.test(r.path)));
  }
  return (request) => checks.every((check) => check(request));
}
