import type { StreamDirection } from '../faults/types.js';
import type { CompiledPolicy, CompiledRule } from '../policy/compile.js';
import { splitPeer } from '../policy/match.js';
import type { MatchSpec } from '../policy/schema.js';
import { networkCidr, type Cidr } from './values.js';

export type Direction = 'inbound' | 'outbound';

/** The traffic one iptables rule selects: every field must match; an absent field is any. */
export interface Selection {
  direction: Direction;
  /** Set when `source` or `destination` is: the rule is for iptables or ip6tables only. */
  family?: 4 | 6;
  /** CIDRs, normalized; the source is the client for inbound traffic, the pod for outbound. */
  source?: string;
  sourcePort?: number;
  destination?: string;
  /** Destination ports, sorted. */
  ports?: number[];
}

/** A partition the kernel applies (filter table) instead of the sidecar. */
export interface PartitionSelection extends Selection {
  mode: 'reject' | 'blackhole';
}

/** Packet loss the kernel applies (packet_loss): each packet of the selection's streams dropped with `probability`. */
export interface LossSelection extends Selection {
  probability: number;
  streams: StreamDirection[];
}

/**
 * What on-demand interception must install for a policy: the traffic to redirect to the sidecar
 * and the partitions to apply in the kernel; with DNS rules, the pod's DNS to the DNS proxy; with
 * kernel faults, the packet loss. Empty when no fault is active: then no rule at all.
 */
export interface Demand {
  redirect: Selection[];
  partition: PartitionSelection[];
  /** Redirect the pod's port-53 traffic to the DNS proxy (a DNS rule is active). */
  dns?: boolean;
  loss?: LossSelection[];
}

export interface DemandReport extends Demand {
  /** Why a rule captures less (or more) than its match says, for the admin API and logs. */
  notes: string[];
}

/** More selections than this are widened (sources, then destinations, then ports dropped). */
export const MAX_SELECTIONS = 128;

export const EMPTY_DEMAND: Demand = { redirect: [], partition: [], dns: false, loss: [] };

/** What the sidecar has to redirect to: capture listeners per direction, and the DNS proxy. */
export type Capture = Record<Direction, boolean> & { dns?: boolean };

interface Peer {
  cidr: Cidr;
  port: number | undefined;
}

/** How much of a match the selections keep: all of it, then less and less (always a superset). */
type Detail = 'all' | 'no-sources' | 'ports' | 'directions';

/**
 * The interception a policy needs now. Only rules that can match transparently captured traffic
 * count: not those of an explicit `listener`, and none at all while faults are off (`enabled:
 * false`, expired, kill switch), nor rules past their own `expiresAt`. A rule's L4 part (direction, ports, IP/CIDR destinations and
 * sources) becomes selections; its L7 or `sni` part is left to the sidecar. A rule whose faults
 * include an unconditional partition is cut in the kernel instead of being redirected.
 * `capture` says which directions have a capture listener to redirect to.
 */
export function interceptionDemand(policy: CompiledPolicy, faultsEnabled: boolean, capture: Capture, now = Date.now()): DemandReport {
  if (!faultsEnabled) return { ...EMPTY_DEMAND, notes: [] };
  const notes: string[] = [];
  const relevant = policy.rules
    .map((rule, i) => ({ rule, match: policy.document.spec.rules[i]?.match ?? {} }))
    .filter(({ rule, match }) => match.listener === undefined && (rule.expiresAt === undefined || now < rule.expiresAt));
  for (const { rule, match } of relevant) {
    for (const [field, patterns] of [['destinations', match.destinations], ['sources', match.sources]] as const) {
      const names = (patterns ?? []).filter((p) => !peerOf(p));
      if (names.length === 0) continue;
      const all = names.length === patterns?.length;
      notes.push(`rule ${rule.name}: ${field} ${names.join(', ')} ${names.length > 1 ? 'are host names' : 'is a host name'}, which captured traffic (known by IP only) never matches${all ? ': nothing to capture' : ''}`);
    }
  }
  let demand: Demand = EMPTY_DEMAND;
  for (const detail of ['all', 'no-sources', 'ports', 'directions'] as Detail[]) {
    demand = build(relevant, detail);
    // Loss is bounded on its own (below): it is never widened.
    if (demand.redirect.length + demand.partition.length <= MAX_SELECTIONS) {
      if (detail !== 'all') notes.push(`more than ${MAX_SELECTIONS} iptables selections: widened to ${detail} (the sidecar still matches every rule exactly)`);
      break;
    }
  }
  const redirect = demand.redirect.filter((s) => capture[s.direction]);
  for (const direction of ['inbound', 'outbound'] as const) {
    if (!capture[direction] && demand.redirect.some((s) => s.direction === direction)) notes.push(`no ${direction} capture listener: ${direction} rules apply only to explicit listeners`);
  }
  if ((demand.loss?.length ?? 0) > MAX_SELECTIONS) notes.push(`packet_loss: more than ${MAX_SELECTIONS} iptables selections, only the first ${MAX_SELECTIONS} are installed (loss is never widened)`);
  // DNS rules need the DNS proxy; its queries are matched exactly there, so all of port 53 goes.
  const dns = relevant.some(({ rule }) => rule.dns !== undefined);
  if (dns && !capture.dns) notes.push('no DNS proxy: DNS rules apply only to protocol: dns listeners');
  return { redirect, partition: demand.partition, dns: dns && capture.dns === true, loss: (demand.loss ?? []).slice(0, MAX_SELECTIONS), notes };
}

function build(rules: { rule: CompiledRule; match: MatchSpec }[], detail: Detail): Demand {
  const redirect: Selection[] = [];
  const reject: PartitionSelection[] = [];
  const blackhole: PartitionSelection[] = [];
  const loss: LossSelection[] = [];
  for (const { rule, match } of rules) {
    // DNS rules are the DNS proxy's (the dns flag), not connections to redirect.
    if (rule.dns) continue;
    const selections = selectionsOf(match, detail);
    // Kernel faults (packet_loss) are applied by netfilter, exactly (a wider loss would drop
    // packets no rule names, so it is never widened); the rule's other faults need the sidecar.
    for (const fault of rule.faults) {
      const effect = fault.type.kernel?.(fault.options);
      if (effect && effect.dropProbability > 0) loss.push(...selectionsOf(match, 'all').map((s) => ({ ...s, probability: effect.dropProbability, streams: [...fault.streams] })));
    }
    // A terminating rule needs its traffic in the sidecar even with no fault of its own.
    if (!rule.terminate && rule.faults.every((f) => f.type.kernel)) continue;
    const mode = kernelPartition(rule);
    if (mode === undefined) redirect.push(...selections);
    else (mode === 'reject' ? reject : blackhole).push(...selections.map((s) => ({ ...s, mode })));
  }
  // Reject before blackhole: for a connection both match, the sidecar's engine refuses first too.
  return { redirect: simplify(redirect), partition: simplify([...reject, ...blackhole]), loss };
}

/**
 * The partition mode when the kernel can apply the rule exactly: an L4 rule of `scope: live`
 * with a partition that applies to every connection, at once, both ways, for as long as the
 * policy (probability 1, no `after`/`for`/`firstConnections`, stream both). Such a partition
 * makes the rule's other faults moot, so the rule needs no redirect. Undefined otherwise.
 */
export function kernelPartition(rule: CompiledRule): 'reject' | 'blackhole' | undefined {
  if (rule.request || rule.sni || rule.scope !== 'live') return undefined;
  const modes = rule.faults
    .filter((f) => f.probability === 1 && f.after === 0 && f.for === undefined && f.firstConnections === undefined && f.streams.length === 2)
    .map((f) => f.type.kernelRule?.(f.options))
    .filter((m) => m !== undefined);
  return modes.includes('reject') ? 'reject' : modes[0];
}

/** A policy peer as a CIDR and port; undefined for a host name. */
function peerOf(pattern: string): Peer | undefined {
  const { host, port } = splitPeer(pattern);
  const cidr = networkCidr(host);
  return cidr ? { cidr, port } : undefined;
}

/** The peers of a match field: undefined = any; [] = none can match captured traffic. */
function peersOf(patterns: string[] | undefined): Peer[] | undefined {
  if (!patterns?.length) return undefined;
  return patterns.map(peerOf).filter((p): p is Peer => p !== undefined);
}

/** The destination ports a rule and one peer's port leave: undefined = any, [] = none. */
function portsOf(ports: number[] | undefined, peerPort: number | undefined): number[] | undefined {
  if (peerPort === undefined) return ports?.length ? [...new Set(ports)].sort((a, b) => a - b) : undefined;
  return !ports?.length || ports.includes(peerPort) ? [peerPort] : [];
}

/** One rule's match as selections, at the given detail. */
function selectionsOf(match: MatchSpec, detail: Detail): Selection[] {
  const directions: Direction[] = match.direction ? [match.direction] : ['inbound', 'outbound'];
  if (detail === 'directions') return directions.map((direction) => ({ direction }));
  const destinations = detail === 'ports' ? undefined : peersOf(match.destinations);
  const sources = detail === 'all' ? peersOf(match.sources) : undefined;
  // A rule every one of whose peers is a host name matches no captured connection.
  if (destinations?.length === 0 || sources?.length === 0) return [];
  const selections: Selection[] = [];
  for (const direction of directions) {
    for (const destination of destinations ?? [undefined]) {
      for (const source of sources ?? [undefined]) {
        if (destination && source && destination.cidr.family !== source.cidr.family) continue;
        const ports = portsOf(match.ports, detail === 'ports' ? undefined : destination?.port);
        if (ports?.length === 0) continue;
        const family = destination?.cidr.family ?? source?.cidr.family;
        selections.push({
          direction,
          ...(family ? { family } : {}),
          ...(source ? { source: source.cidr.cidr, ...(source.port ? { sourcePort: source.port } : {}) } : {}),
          ...(destination ? { destination: destination.cidr.cidr } : {}),
          ...(ports ? { ports } : {}),
        });
      }
    }
  }
  return selections;
}

/** Duplicates dropped, and everything else of a direction (and mode) once one selection takes all of it. */
function simplify<T extends Selection & { mode?: string }>(selections: T[]): T[] {
  const seen = new Set<string>();
  const unique = selections.filter((s) => {
    const key = JSON.stringify(s);
    return !seen.has(key) && seen.add(key);
  });
  const everything = new Set(unique.filter((s) => Object.keys(s).every((k) => k === 'direction' || k === 'mode')).map((s) => `${s.direction}/${s.mode}`));
  return unique.filter((s) => !everything.has(`${s.direction}/${s.mode}`) || Object.keys(s).every((k) => k === 'direction' || k === 'mode'));
}
