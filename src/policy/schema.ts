import { z } from 'zod';
import { parseHostPort } from '../net/address.js';
import { parsePeer } from '../net/peer.js';
import { duration, probability } from './units.js';

/**
 * The policy document's shape (SPEC.md, "Policy file"). Fault entries are checked here only for
 * a `type`; each fault type's own fields are checked against its file in src/faults/, see load.ts.
 */

export const API_VERSION = 'faultline.dev/v1alpha1';
export const KIND = 'FaultPolicy';

/**
 * The one pattern of faultline names (rules, listeners, policies, Toxiproxy proxies and toxics).
 * Spelled out rather than with the i flag: the FaultPolicy CRD's schema (generated from this one)
 * keeps patterns, not flags.
 */
export const NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const name = (what: string) =>
  z.string().regex(NAME_PATTERN, `${what} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);

/** HOST:PORT with a numeric port; HOST may be a name ("db.default.svc") or an IP ("[::1]"). */
export const hostPort = z.string().refine((value) => parseHostPort(value) !== undefined, {
  message: 'expected HOST:PORT, e.g. "127.0.0.1:16379" or "[::1]:8080"',
});

/** HOST:PORT something connects to: port 0 ("pick a free one") only means something where binding. */
const upstreamHostPort = hostPort.refine((value) => parseHostPort(value)?.port !== 0, { message: 'an upstream port is 1-65535 (0 only means "any free port" in listen)' });

const port = z.number().int('ports are whole numbers').min(1, 'ports are 1-65535').max(65535, 'ports are 1-65535');

/** An IP, a CIDR, HOST, or HOST:PORT; see match.ts for how each matches. */
const peer = z.string().superRefine((value, ctx) => {
  const parsed = parsePeer(value);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

const listener = z.strictObject({
  name: name('listener name'),
  listen: hostPort,
  upstream: upstreamHostPort,
  /** How rules see this listener's traffic; explicit listeners are usually the app's way out. */
  direction: z.enum(['inbound', 'outbound']).default('outbound'),
  // DNS, UDP: what the listener carries (src/udp/, src/dns/); tcp is the byte pipe of src/proxy/.
  protocol: z.enum(['tcp', 'udp', 'dns']).default('tcp'),
  /** udp: a client address silent this long loses its flow (and its upstream socket). */
  idleTimeout: duration.optional(),
});

/** DNS record types a rule may name (dns-packet's names). */
export const DNS_TYPES = ['A', 'AAAA', 'ANY', 'CAA', 'CNAME', 'DNSKEY', 'DS', 'HTTPS', 'MX', 'NAPTR', 'NS', 'PTR', 'SOA', 'SRV', 'SSHFP', 'SVCB', 'TLSA', 'TXT'] as const;

/** `match.dns`: query names (globs, case-insensitive, no trailing dot) and record types; omitted = any. */
const dnsMatch = z.strictObject({
  names: z.array(z.string().regex(/^[A-Za-z0-9*?_][A-Za-z0-9.*?_-]*\.?$/, 'expected a DNS name or a glob such as "*.payments.svc.cluster.local"')).max(256).optional(),
  types: z.array(z.enum(DNS_TYPES, { message: `expected a record type: ${DNS_TYPES.join(', ')}` })).optional(),
});

const match = z.strictObject({
  listener: z.string().optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  ports: z.array(port).optional(),
  destinations: z.array(peer).optional(),
  sources: z.array(peer).optional(),
  sni: z.string().optional(),
  // tls: a connection rule for TLS connections (any server name), where handshake faults go.
  protocol: z.enum(['tcp', 'http', 'grpc', 'ws', 'tls']).optional(),
  http: z
    .strictObject({
      methods: z.array(z.string()).optional(),
      paths: z.array(z.string()).optional(),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  grpc: z.strictObject({ methods: z.array(z.string()).optional() }).optional(),
  // DNS: a rule with `dns` acts per DNS query (src/dns/), on the questions it matches.
  dns: dnsMatch.optional(),
});

const faultEntry = z.looseObject({ type: z.string({ message: 'every fault needs a type' }) });

const expiresAt = z.iso.datetime({ offset: true, message: 'expiresAt must be an RFC 3339 time, e.g. "2026-11-22T12:00:00Z"' });

const rule = z.strictObject({
  name: name('rule name'),
  match: match.default({}),
  /** A named scenario (src/scenarios/) expanded into `faults` by load.ts; `faults` entries merge over it. */
  scenario: z.string().optional(),
  /** After it this rule no longer applies (the rest of the policy does). */
  expiresAt: expiresAt.optional(),
  /** `new-connections`: a policy change leaves connections opened before it as they were. */
  scope: z.enum(['live', 'new-connections']).default('live'),
  allowHeaderOverrides: z.boolean().optional(),
  /**
   * L7 rules: `reconnect` (the default) has plain-pipe HTTP connections opened before the rule
   * (keep-alive pools, HTTP/2) reconnect gracefully so the rule reaches them; `leave` does not.
   */
  pooledConnections: z.enum(['reconnect', 'leave']).default('reconnect'),
  /**
   * `terminate`: TLS connections the rule matches are decrypted with a leaf certificate from the
   * sidecar's CA (src/tls/), so that L7 rules see their requests; a rule that only terminates
   * needs no faults.
   */
  tls: z.enum(['terminate'], { message: 'tls takes one value: terminate' }).optional(),
  faults: z.array(faultEntry).optional(),
}).superRefine((rule, ctx) => {
  if (rule.faults === undefined && rule.tls !== 'terminate') ctx.addIssue({ code: 'custom', path: ['faults'], message: 'required field is missing' });
  else if (rule.faults?.length === 0 && rule.tls !== 'terminate') ctx.addIssue({ code: 'custom', path: ['faults'], message: 'a rule needs at least one fault (or tls: terminate)' });
}).transform((rule) => ({ ...rule, faults: rule.faults ?? [] }));

/** A policy's `spec` (also the base of a FaultPolicy resource's spec, src/faultpolicy/). */
export const policySpecSchema = z.strictObject({
  enabled: z.boolean().default(true),
  expiresAt: expiresAt.optional(),
  // `listeners:` with nothing under it is YAML null: read it as an empty list.
  listeners: z.preprocess((v) => v ?? undefined, z.array(listener).default([])),
  rules: z.preprocess((v) => v ?? undefined, z.array(rule).default([])),
});

export const policySchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `apiVersion must be "${API_VERSION}"` }),
  kind: z.literal(KIND, { message: `kind must be "${KIND}"` }),
  metadata: z.looseObject({ name: name('metadata.name') }),
  spec: policySpecSchema,
});

/** Fields every fault may carry; the engine applies them, the fault never sees them. */
export const commonFaultSchema = z.strictObject({
  type: z.string(),
  probability: probability.default(1),
  stream: z.enum(['upstream', 'downstream', 'both']).optional(),
  after: duration.default(0),
  for: duration.optional(),
  firstConnections: z.number().int('firstConnections is a whole number').positive('firstConnections must be at least 1').optional(),
});
export const COMMON_FAULT_KEYS = new Set(Object.keys(commonFaultSchema.shape));

export type PolicyDocument = z.output<typeof policySchema>;
export type ListenerSpec = z.output<typeof listener>;
export type RuleSpec = z.output<typeof rule>;
export type MatchSpec = z.output<typeof match>;
export type CommonFaultFields = z.output<typeof commonFaultSchema>;
