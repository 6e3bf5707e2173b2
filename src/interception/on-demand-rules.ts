import type { Demand, Direction, PartitionSelection, Selection } from './demand.js';
import { CHAINS, dnsRules, FILTER_CHAINS, jumpArgs, JUMPS, neverInboundPorts, outboundExemptions, redirectRules, type InterceptionConfig } from './iptables.js';
import { lossChains } from './packet-loss-rules.js';
import { intersectCidrs, type Cidr } from './values.js';

/**
 * On-demand interception as iptables rules for one IP family: the demand (what the policy needs)
 * narrowed by the pod's own settings (included and excluded ports and CIDRs), as the contents of
 * our chains and the jumps into them, and the `iptables-restore --noflush` input that moves the
 * kernel from the rules installed to these in one transaction per table.
 *
 * Every entry chain starts with its lease, `-m time --datestart <end> -j RETURN`: once the lease
 * ends, the chain returns at once and its rules are inert. The sidecar renews it while it lives.
 */
export interface RenderedFamily {
  family: 4 | 6;
  /** Per table, our chains and their rules (argument vectors after `-A CHAIN`), in order. */
  tables: Record<'nat' | 'filter', Map<string, string[][]>>;
  /** The jumps from built-in chains (entries of JUMPS) these chains need. */
  jumps: typeof JUMPS;
}

/** Ports per `-m multiport` rule, the module's limit. */
const MULTIPORT_MAX = 15;

/** The kernel's `-m time` takes UTC to the second; the lease ends on the next whole second. */
export function leaseStamp(leaseEnd: number): string {
  return new Date(Math.ceil(leaseEnd / 1000) * 1000).toISOString().slice(0, 19);
}

/** Renders the demand for one family; an empty result (no chain) means no rule at all. */
export function renderDemand(config: InterceptionConfig, demand: Demand, family: 4 | 6, leaseEnd: number): RenderedFamily {
  const lease = ['-m', 'time', '--datestart', leaseStamp(leaseEnd), '-j', 'RETURN'];
  const never = neverInboundPorts(config);
  const narrow = <T extends Selection>(s: T) => narrowed(config, family, s);
  const inbound = demand.redirect.filter((s) => s.direction === 'inbound').flatMap(narrow);
  const outbound = demand.redirect.filter((s) => s.direction === 'outbound').flatMap(narrow);
  const partitions = demand.partition.flatMap(narrow);
  const losses = (demand.loss ?? []).flatMap(narrow);
  // The DNS proxy listens on IPv4 loopback: IPv6 DNS is never redirected.
  const dns = demand.dns === true && family === 4;
  const nat = new Map<string, string[][]>();
  const filter = new Map<string, string[][]>();
  const port = (flag: string, p: number) => ['-p', 'tcp', flag, String(p), '-j', 'RETURN'];
  // redirectRules gives `-A CHAIN ...` for the inbound, then the outbound redirect chain.
  const [inRedirect, outRedirect] = redirectRules(config).map((r) => r.slice(2)) as [string[], string[]];

  if (inbound.length > 0) {
    nat.set(CHAINS.inbound, [lease, ...never.map((p) => port('--dport', p)), ...inbound.flatMap((s) => matchArgs(s, false).map((m) => [...m, '-j', CHAINS.inRedirect]))]);
    nat.set(CHAINS.inRedirect, [inRedirect]);
  }
  if (outbound.length > 0) {
    nat.set(CHAINS.output, [lease, ...outboundExemptions(config, family, dns), ...outbound.flatMap((s) => matchArgs(s, false).map((m) => [...m, '-j', CHAINS.redirect]))]);
    nat.set(CHAINS.redirect, [outRedirect]);
  }
  if (dns) nat.set(CHAINS.dns, [lease, ...dnsRules(config)]);
  if (losses.length > 0) for (const [chain, rules] of lossChains(config, family, losses, lease)) filter.set(chain, rules);
  if (partitions.length > 0) {
    const excludedPorts = config.excludeOutboundPorts;
    const excludedCidrs = config.excludeOutboundCidrs.filter((c) => c.family === family).map((c) => c.cidr);
    // Each chain sees both directions of connections: packets of inbound connections arrive
    // (INPUT) with the pod's port as destination and leave (OUTPUT) with it as source; outbound
    // connections the other way round. So each exemption and partition appears once each way.
    const chain = (lo: string[], inbound: '--dport' | '--sport', outbound: '--dport' | '--sport', peer: '-s' | '-d', replies: Direction) => [
      lease,
      [...lo, '-j', 'RETURN'],
      ...never.map((p) => port(inbound, p)),
      ...excludedPorts.map((p) => port(outbound, p)),
      ...excludedCidrs.map((c) => [peer, c, '-j', 'RETURN']),
      ...partitions.flatMap((s) => partitionRules(s, s.direction === replies)),
    ];
    filter.set(FILTER_CHAINS.input, chain(['-i', 'lo'], '--dport', '--sport', '-s', 'outbound'));
    filter.set(FILTER_CHAINS.output, chain(['-o', 'lo'], '--sport', '--dport', '-d', 'inbound'));
  }
  const tables = { nat, filter };
  return { family, tables, jumps: JUMPS.filter((j) => tables[j.table].has(j.to)) };
}

/**
 * The `iptables-restore --noflush` input that turns `previous` (what is installed; undefined:
 * nothing) into `next` (undefined: nothing). Declaring a chain creates or flushes it; each
 * table is one transaction, so no connection ever sees half of a change (a renewal included).
 * Jumps go first in their built-in chain, so that no earlier rule of anyone else's lets
 * traffic past ours.
 */
export function restoreInput(next: RenderedFamily | undefined, previous: RenderedFamily | undefined): string {
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const want = next?.tables[table] ?? new Map<string, string[][]>();
    const had = previous?.tables[table] ?? new Map<string, string[][]>();
    if (want.size === 0 && had.size === 0) continue;
    lines.push(`*${table}`);
    for (const chain of new Set([...had.keys(), ...want.keys()])) lines.push(`:${chain} - [0:0]`);
    // Every jump we think is there is deleted, and the wanted ones inserted again: a jump someone
    // removed by hand makes the whole transaction fail (the keeper then starts afresh), and ours
    // stay first.
    for (const j of previous?.jumps ?? []) if (j.table === table) lines.push(`-D ${jumpArgs(j).join(' ')}`);
    for (const chain of had.keys()) if (!want.has(chain)) lines.push(`-X ${chain}`);
    for (const [chain, rules] of want) for (const rule of rules) lines.push(`-A ${chain} ${rule.join(' ')}`);
    for (const j of next?.jumps ?? []) if (j.table === table) lines.push(`-I ${[j.from, '1', ...j.match, '-j', j.to].join(' ')}`);
    lines.push('COMMIT');
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The rules of a rendering as the commands they amount to (what `GET /policy` shows). */
export function describeRendered(rendered: RenderedFamily | undefined): string[] {
  if (!rendered) return [];
  const bin = rendered.family === 4 ? 'iptables' : 'ip6tables';
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    for (const j of rendered.jumps.filter((j) => j.table === table)) lines.push(`${bin} -t ${table} -I ${[j.from, '1', ...j.match, '-j', j.to].join(' ')}`);
    for (const [chain, rules] of rendered.tables[table]) for (const rule of rules) lines.push(`${bin} -t ${table} -A ${chain} ${rule.join(' ')}`);
  }
  return lines;
}

/**
 * A selection narrowed by the pod's settings for one family: inbound to the included ports
 * minus the never-captured ones, outbound to the included CIDRs. Empty when nothing is left.
 */
function narrowed<T extends Selection>(config: InterceptionConfig, family: 4 | 6, selection: T): T[] {
  if (selection.family !== undefined && selection.family !== family) return [];
  if (selection.direction === 'inbound') {
    const never = new Set(neverInboundPorts(config));
    const wanted = selection.ports ?? (config.inboundPorts === '*' ? undefined : config.inboundPorts);
    if (wanted === undefined) return [selection];
    const ports = wanted.filter((p) => !never.has(p) && (config.inboundPorts === '*' || config.inboundPorts.includes(p)));
    return ports.length ? [{ ...selection, ports }] : [];
  }
  const excluded = new Set(config.excludeOutboundPorts);
  const ports = selection.ports?.filter((p) => !excluded.has(p));
  if (ports?.length === 0) return [];
  const narrowedPorts = ports ? { ...selection, ports } : selection;
  if (config.includeOutboundCidrs.length === 0) return [narrowedPorts];
  const included = config.includeOutboundCidrs.filter((c) => c.family === family);
  const destination: Cidr | undefined = selection.destination ? { cidr: selection.destination, family } : undefined;
  return included
    .map((inc) => (destination ? intersectCidrs(destination, inc) : inc))
    .filter((c): c is Cidr => c !== undefined)
    .map((c) => ({ ...narrowedPorts, family, destination: c.cidr }));
}

/**
 * The match part of a selection's rules, one per chunk of ports. `reversed`: for the packets
 * going the other way (a reply: source and destination swapped).
 */
function matchArgs(selection: Selection, reversed: boolean): string[][] {
  const { source, sourcePort, destination, ports } = selection;
  const peers = reversed ? { s: destination, d: source, sports: ports, dports: sourcePort ? [sourcePort] : undefined } : { s: source, d: destination, sports: sourcePort ? [sourcePort] : undefined, dports: ports };
  const base = ['-p', 'tcp', ...(peers.s ? ['-s', peers.s] : []), ...(peers.d ? ['-d', peers.d] : [])];
  const portArgs = (flag: 'sport' | 'dport', list: number[] | undefined): string[][] => {
    if (!list) return [[]];
    if (list.length === 1) return [[`--${flag}`, String(list[0])]];
    const chunks: string[][] = [];
    for (let i = 0; i < list.length; i += MULTIPORT_MAX) chunks.push(['-m', 'multiport', `--${flag}s`, list.slice(i, i + MULTIPORT_MAX).join(',')]);
    return chunks;
  };
  return portArgs('sport', peers.sports).flatMap((sp) => portArgs('dport', peers.dports).map((dp) => [...base, ...sp, ...dp]));
}

/** A partition's rules for one chain: its packets as they pass there (`reversed`: the replies). */
function partitionRules(selection: PartitionSelection, reversed: boolean): string[][] {
  // Our own RSTs pass through OUTPUT too: rejecting them would swallow the reset we send.
  const target = selection.mode === 'reject' ? ['-j', 'REJECT', '--reject-with', 'tcp-reset'] : ['-j', 'DROP'];
  return matchArgs(selection, reversed).map((m) => {
    const [p, tcp, ...rest] = m;
    return selection.mode === 'reject' ? [p as string, tcp as string, '!', '--tcp-flags', 'RST', 'RST', ...rest, ...target] : [...m, ...target];
  });
}
