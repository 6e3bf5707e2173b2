import { z } from 'zod';
import { RequestError } from '../errors.js';
import type { Sidecar } from '../sidecar.js';
import { VERSION } from '../version.js';
import type { RuntimeLayers } from './layers.js';
import type { AdminVerb } from './verbs.js';
import { mirrorSummary } from './mirror-view.js';

/** Where a rule or listener comes from: the policy file, a FaultPolicy object, the admin API, or the Toxiproxy API. */
export type Layer = 'file' | 'faultpolicy' | 'runtime' | 'toxiproxy';

function layerOf(layers: RuntimeLayers, kind: 'rules' | 'listeners', name: string): Layer {
  if (layers.get('rules')[kind].some((r) => r.name === name)) return 'runtime';
  if (layers.get('toxiproxy')[kind].some((r) => r.name === name)) return 'toxiproxy';
  if (layers.get('faultpolicies')[kind].some((r) => r.name === name)) return 'faultpolicy';
  return 'file';
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** "HOST:PORT" a listener of the sidecar is bound to, or null. */
function boundAddress(sidecar: Sidecar, name: string): string | null {
  try {
    const { address: host, port } = sidecar.address(name);
    return `${host.includes(':') ? `[${host}]` : host}:${port}`;
  } catch {
    return null;
  }
}

/** The interception view: on-demand's own, else `always` when capture listeners run (the init container's rules), else none. */
function interceptionView(sidecar: Sidecar): Record<string, unknown> {
  return (sidecar.interception?.view() as Record<string, unknown> | undefined) ?? { mode: boundAddress(sidecar, 'inbound') ?? boundAddress(sidecar, 'outbound') ? 'always' : 'none' };
}

const lastErrorView = (sidecar: Sidecar) => (sidecar.lastError ? { at: sidecar.lastError.at.toISOString(), message: sidecar.lastError.message } : null);

/** GET /policy: the policy in force, where it came from, and the last reload failure. */
export function policyView(sidecar: Sidecar, layers: RuntimeLayers): Record<string, unknown> {
  const p = sidecar.policy;
  return {
    name: p.name,
    hash: p.hash,
    source: p.source,
    loadedAt: p.loadedAt.toISOString(),
    enabled: p.enabled,
    expiresAt: iso(p.expiresAt),
    killSwitch: sidecar.engine.killSwitch,
    faultsEnabled: sidecar.engine.faultsEnabled(),
    lastError: lastErrorView(sidecar),
    // Started with --allow-missing-policy and the file is not there: no fault comes from it.
    fileMissing: sidecar.policyMissing,
    interception: interceptionView(sidecar),
    // The CA's subject, fingerprint and expiry: never a key (src/tls/authority.ts).
    tls: sidecar.tls.view(),
    listeners: p.listeners.map((l) => ({ ...l, address: boundAddress(sidecar, l.name), layer: layerOf(layers, 'listeners', l.name) })),
    rules: p.document.spec.rules.map((r) => ({ ...r, layer: layerOf(layers, 'rules', r.name) })),
    // Watching FaultPolicy objects: the watch's state (synced, or stale with the last good set kept) and each object's fate.
    faultPolicies: sidecar.faultPolicies?.view() ?? null,
  };
}

/** Live connections a fault applies to now, by "rule/fault". */
function activeCounts(sidecar: Sidecar): Map<string, number> {
  const active = new Map<string, number>();
  for (const conn of sidecar.connections) {
    for (const f of conn.faults()) if (f.active) active.set(`${f.rule}/${f.fault}`, (active.get(`${f.rule}/${f.fault}`) ?? 0) + 1);
  }
  return active;
}

/**
 * GET /status: one compact answer per sidecar (what `faultline status` shows for each pod): the
 * policy and where it came from, the last reload error, interception mode and state, the kill
 * switch, the faults in force with the live connections each applies to, and the version.
 */
export function statusView(sidecar: Sidecar, layers: RuntimeLayers, credentials: AdminVerb[]): Record<string, unknown> {
  const p = sidecar.policy;
  const interception = interceptionView(sidecar);
  const mode = String(interception.mode);
  const state = mode === 'on-demand' ? (interception.lastError ? 'error' : interception.installed ? 'installed' : 'idle') : mode === 'always' ? 'capturing' : 'off';
  const active = activeCounts(sidecar);
  const enabled = sidecar.engine.faultsEnabled();
  const now = Date.now();
  const faults = enabled
    ? p.rules.filter((r) => r.expiresAt === undefined || r.expiresAt > now).flatMap((rule) =>
        rule.faults.map((f) => ({ rule: rule.name, fault: f.type.type, layer: layerOf(layers, 'rules', rule.name), connections: active.get(`${rule.name}/${f.type.type}`) ?? 0 })),
      )
    : [];
  let faulted = 0;
  for (const conn of sidecar.connections) if (conn.faults().some((f) => f.active)) faulted++;
  return {
    version: VERSION,
    policy: { name: p.name, hash: p.hash, source: p.source, loadedAt: p.loadedAt.toISOString(), enabled: p.enabled, expiresAt: iso(p.expiresAt), fileMissing: sidecar.policyMissing, lastError: lastErrorView(sidecar) },
    interception: { mode, state, ...(mode === 'on-demand' ? { rules: (interception.rules as unknown[]).length, lastError: interception.lastError } : {}) },
    killSwitch: sidecar.engine.killSwitch,
    faultsEnabled: enabled,
    faults,
    connections: { live: sidecar.connections.size, faulted },
    runtimeRules: layers.get('rules').rules.length,
    faultPolicies: sidecar.faultPolicies?.summary() ?? null,
    adminCredentials: credentials,
  };
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const connectionQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  listener: z.string().optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  protocol: z.enum(['tcp', 'http', 'h2c', 'ws', 'tls']).optional(),
  rule: z.string().optional(),
  fault: z.string().optional(),
  faulted: bool.optional(),
});

/** Parses a query string with `schema`; a bad parameter is a 400 that names it. */
export function parseQuery<T extends z.ZodType>(schema: T, query: URLSearchParams): z.output<T> {
  const parsed = schema.safeParse(Object.fromEntries(query));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  const where = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.');
  throw new RequestError(400, 'invalid_query', `query parameter ${where}: ${issue.message}`);
}

/**
 * GET /connections: live connections, oldest first, filtered by listener, direction, protocol,
 * rule, fault type and whether any fault acted on them; at most `limit` (default 100).
 */
export function connectionsView(sidecar: Sidecar, query: URLSearchParams): Record<string, unknown> {
  const q = parseQuery(connectionQuery, query);
  const matching: Record<string, unknown>[] = [];
  let total = 0;
  for (const conn of sidecar.connections) {
    if (q.listener !== undefined && (conn.meta.listener ?? conn.meta.direction) !== q.listener) continue;
    if (q.direction !== undefined && conn.meta.direction !== q.direction) continue;
    if (q.protocol !== undefined && conn.protocol !== q.protocol) continue;
    const faults = q.rule !== undefined || q.fault !== undefined || q.faulted !== undefined ? conn.faults() : undefined;
    if (q.rule !== undefined && !faults?.some((f) => f.rule === q.rule)) continue;
    if (q.fault !== undefined && !faults?.some((f) => f.fault === q.fault)) continue;
    if (q.faulted !== undefined && (faults?.length ?? 0) > 0 !== q.faulted) continue;
    total++;
    if (matching.length < q.limit) matching.push(conn.describe());
  }
  return { total, returned: matching.length, connections: matching };
}

/**
 * GET /faults: every fault of the policy in force, with the live connections it applies to now
 * (`active`) and how often it acted since the sidecar started (`injected`, from the metrics).
 */
export async function faultsView(sidecar: Sidecar, layers: RuntimeLayers): Promise<Record<string, unknown>> {
  const injected = new Map<string, number>();
  for (const { labels, value } of (await sidecar.metrics.faultsInjected.get()).values) {
    const key = `${labels.rule}/${labels.fault}`;
    injected.set(key, (injected.get(key) ?? 0) + value);
  }
  const active = activeCounts(sidecar);
  const faults = sidecar.policy.rules.flatMap((rule) =>
    rule.faults.map((f) => {
      const key = `${rule.name}/${f.type.type}`;
      return {
        rule: rule.name,
        fault: f.type.type,
        layer: layerOf(layers, 'rules', rule.name),
        probability: f.probability,
        streams: f.streams,
        active: active.get(key) ?? 0,
        injected: injected.get(key) ?? 0,
      };
    }),
  );
  return { killSwitch: sidecar.engine.killSwitch, faultsEnabled: sidecar.engine.faultsEnabled(), faults, mirror: mirrorSummary(sidecar), totals: await sidecar.metrics.totals() };
}
