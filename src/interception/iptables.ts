import { execFileSync } from 'node:child_process';
import { IptablesError } from '../errors.js';
import type { Cidr } from './values.js';

/**
 * Transparent interception the way Istio's REDIRECT mode does it, in the nat table:
 * inbound TCP to the pod → the inbound capture port (15006), outbound TCP → the outbound capture
 * port (15001). Exempt: the proxy's own traffic (owner UID/GID), loopback, the sidecar's admin
 * and metrics ports, and the excluded ports and CIDRs. Rules are data (argument vectors), so
 * they can be printed (--dry-run), applied idempotently, and removed (--cleanup).
 */
export interface InterceptionConfig {
  proxyUid: number;
  proxyGid: number;
  inboundCapturePort: number;
  outboundCapturePort: number;
  /** Inbound ports to capture; `'*'` for all but the excluded ones. */
  inboundPorts: number[] | '*';
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  /** Outbound destinations to capture; empty = all. */
  includeOutboundCidrs: Cidr[];
  excludeOutboundCidrs: Cidr[];
  /** Ports of the sidecar itself (admin, metrics): never captured inbound. */
  sidecarPorts: number[];
  /** Redirect the pod's outbound port-53 traffic (UDP and TCP) to the DNS proxy, IPv4 (always mode). */
  interceptDns: boolean;
  /** The DNS proxy's port on 127.0.0.1. */
  dnsCapturePort: number;
}

export const DEFAULT_CONFIG: InterceptionConfig = {
  proxyUid: 1337,
  proxyGid: 1337,
  inboundCapturePort: 15006,
  outboundCapturePort: 15001,
  inboundPorts: '*',
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  includeOutboundCidrs: [],
  excludeOutboundCidrs: [],
  sidecarPorts: [15000, 15020],
  interceptDns: false,
  dnsCapturePort: 15053,
};

export const CHAINS = {
  inbound: 'FAULTLINE_INBOUND',
  inRedirect: 'FAULTLINE_IN_REDIRECT',
  output: 'FAULTLINE_OUTPUT',
  redirect: 'FAULTLINE_REDIRECT',
  /** DNS: the pod's port-53 traffic to the DNS proxy. */
  dns: 'FAULTLINE_DNS',
} as const;

/** The chains of on-demand kernel partitions, in the filter table (src/interception/on-demand-rules.ts). */
export const FILTER_CHAINS = {
  input: 'FAULTLINE_PART_IN',
  output: 'FAULTLINE_PART_OUT',
  /** packet_loss: kernel packet loss on the packets arriving (IN) and leaving (OUT). */
  lossIn: 'FAULTLINE_LOSS_IN',
  lossOut: 'FAULTLINE_LOSS_OUT',
} as const;

/** A jump from a built-in chain into ours, for the packets `match` selects. */
export interface Jump {
  table: 'nat' | 'filter';
  from: string;
  to: string;
  match: string[];
}

const TCP = ['-p', 'tcp'];
/** The jumps from the built-in chains into ours, per table. */
export const JUMPS: Jump[] = [
  { table: 'nat', from: 'PREROUTING', to: CHAINS.inbound, match: TCP },
  { table: 'nat', from: 'OUTPUT', to: CHAINS.output, match: TCP },
  { table: 'nat', from: 'OUTPUT', to: CHAINS.dns, match: ['-p', 'udp', '--dport', '53'] },
  { table: 'nat', from: 'OUTPUT', to: CHAINS.dns, match: ['-p', 'tcp', '--dport', '53'] },
  { table: 'filter', from: 'INPUT', to: FILTER_CHAINS.input, match: TCP },
  { table: 'filter', from: 'OUTPUT', to: FILTER_CHAINS.output, match: TCP },
  { table: 'filter', from: 'INPUT', to: FILTER_CHAINS.lossIn, match: [] },
  { table: 'filter', from: 'OUTPUT', to: FILTER_CHAINS.lossOut, match: [] },
];

/** A jump as the arguments after `-A`/`-I`/`-D`/`-C`: `FROM [match] -j TO`. */
export const jumpArgs = (j: Jump): string[] => [j.from, ...j.match, '-j', j.to];

/**
 * The DNS proxy's chain: the proxy's own lookups (its UID/GID) go on to the resolver; the rest
 * of what its jumps select (port 53, UDP and TCP) goes to the proxy on 127.0.0.1.
 */
export function dnsRules(config: InterceptionConfig): string[][] {
  const to = String(config.dnsCapturePort);
  return [
    ['-m', 'owner', '--uid-owner', String(config.proxyUid), '-j', 'RETURN'],
    ['-m', 'owner', '--gid-owner', String(config.proxyGid), '-j', 'RETURN'],
    ['-p', 'udp', '-j', 'REDIRECT', '--to-ports', to],
    ['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', to],
  ];
}

/** Inbound ports never captured: the capture ports, the sidecar's own ports and the excluded ones, sorted. */
export function neverInboundPorts(config: InterceptionConfig): number[] {
  const ports = new Set([config.inboundCapturePort, config.outboundCapturePort, ...config.sidecarPorts, ...config.excludeInboundPorts]);
  return [...ports].sort((a, b) => a - b);
}

/**
 * The RETURN rules (argument vectors after `-A CHAIN`) that exempt outbound traffic: the proxy's
 * own connections (else they would loop back into it), loopback, the excluded ports and CIDRs.
 */
export function outboundExemptions(config: InterceptionConfig, family: 4 | 6, dns = config.interceptDns && family === 4): string[][] {
  // The whole of 127/8 is loopback; `-o lo` covers it too unless the route says otherwise.
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  return [
    ['-m', 'owner', '--uid-owner', String(config.proxyUid), '-j', 'RETURN'],
    ['-m', 'owner', '--gid-owner', String(config.proxyGid), '-j', 'RETURN'],
    ['-o', 'lo', '-j', 'RETURN'],
    ['-d', loopback, '-j', 'RETURN'],
    ...config.excludeOutboundPorts.map((port) => ['-p', 'tcp', '--dport', String(port), '-j', 'RETURN']),
    ...config.excludeOutboundCidrs.filter((c) => c.family === family).map(({ cidr }) => ['-d', cidr, '-j', 'RETURN']),
    // TCP to port 53 goes on to the DNS chain's jump, when DNS is captured.
    ...(dns ? [['-p', 'tcp', '--dport', '53', '-j', 'RETURN']] : []),
  ];
}

/** The rules that send what reaches FAULTLINE_IN_REDIRECT and FAULTLINE_REDIRECT to the capture ports. */
export function redirectRules(config: InterceptionConfig): string[][] {
  return [
    ['-A', CHAINS.inRedirect, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(config.inboundCapturePort)],
    ['-A', CHAINS.redirect, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(config.outboundCapturePort)],
  ];
}

/** The rules of our own chains for one IP family, as `-A CHAIN ...` argument vectors. */
export function buildRules(config: InterceptionConfig, family: 4 | 6): string[][] {
  const rules = redirectRules(config);
  const add = (chain: string, ...args: string[]) => rules.push(['-A', chain, ...args]);

  // Inbound: never the capture ports or the sidecar's own ports, nor excluded ports.
  const never = neverInboundPorts(config);
  if (config.inboundPorts === '*') {
    for (const port of never) add(CHAINS.inbound, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
    add(CHAINS.inbound, '-p', 'tcp', '-j', CHAINS.inRedirect);
  } else {
    for (const port of config.inboundPorts) {
      if (!never.includes(port)) add(CHAINS.inbound, '-p', 'tcp', '--dport', String(port), '-j', CHAINS.inRedirect);
    }
  }

  for (const exemption of outboundExemptions(config, family)) add(CHAINS.output, ...exemption);
  const include = config.includeOutboundCidrs.filter((c) => c.family === family);
  if (config.includeOutboundCidrs.length === 0) add(CHAINS.output, '-p', 'tcp', '-j', CHAINS.redirect);
  else for (const { cidr } of include) add(CHAINS.output, '-p', 'tcp', '-d', cidr, '-j', CHAINS.redirect);
  // The DNS proxy listens on IPv4 loopback: IPv6 DNS is never redirected.
  if (config.interceptDns && family === 4) for (const rule of dnsRules(config)) add(CHAINS.dns, ...rule);
  return rules;
}

/** One iptables invocation of a plan. */
export interface Step {
  bin: 'iptables' | 'ip6tables';
  args: string[];
  /** `must`: fail on error; `try`: an error is expected sometimes (chain exists, rule absent). */
  mode: 'must' | 'try';
  /** Run only when this check (`-C ...`) fails: how a jump is added once. */
  unless?: string[];
  /** Repeat while it succeeds (bounded): how a jump added twice by hand is removed too. */
  repeat?: boolean;
}

const binOf = (family: 4 | 6) => (family === 4 ? 'iptables' : 'ip6tables');

/**
 * What `apply` runs for one family, in order: our chains created when missing and flushed,
 * their rules, then the jumps from the built-in chains, each added only when absent. Running
 * the plan twice leaves the same rules.
 */
export function applyPlan(config: InterceptionConfig, family: 4 | 6): Step[] {
  const bin = binOf(family);
  const steps: Step[] = [];
  const dns = config.interceptDns && family === 4;
  for (const chain of Object.values(CHAINS)) {
    if (chain === CHAINS.dns && !dns) continue;
    steps.push({ bin, args: ['-t', 'nat', '-N', chain], mode: 'try' }, { bin, args: ['-t', 'nat', '-F', chain], mode: 'must' });
  }
  for (const rule of buildRules(config, family)) steps.push({ bin, args: ['-t', 'nat', ...rule], mode: 'must' });
  for (const j of JUMPS) {
    if (j.table !== 'nat' || (j.to === CHAINS.dns && !dns)) continue;
    const jump = jumpArgs(j);
    steps.push({ bin, args: ['-t', 'nat', '-A', ...jump], mode: 'must', unless: ['-t', 'nat', '-C', ...jump] });
  }
  return steps;
}

/**
 * What `cleanup` runs for one family: the jumps removed, then our chains flushed and deleted, in
 * the nat table and (on-demand partitions) the filter table. Every step may fail harmlessly.
 */
export function cleanupPlan(family: 4 | 6): Step[] {
  const bin = binOf(family);
  const steps: Step[] = [];
  const chains: [string, string][] = [...Object.values(CHAINS).map((c): [string, string] => ['nat', c]), ...Object.values(FILTER_CHAINS).map((c): [string, string] => ['filter', c])];
  for (const j of JUMPS) steps.push({ bin, args: ['-t', j.table, '-D', ...jumpArgs(j)], mode: 'try', repeat: true });
  for (const [table, chain] of chains) steps.push({ bin, args: ['-t', table, '-F', chain], mode: 'try' });
  for (const [table, chain] of chains) steps.push({ bin, args: ['-t', table, '-X', chain], mode: 'try' });
  return steps;
}

/** A plan as the shell lines it amounts to (what --dry-run prints); every argument is a validated value. */
export function describePlan(steps: Step[]): string[] {
  return steps.map((step) => {
    const line = `${step.bin} ${step.args.join(' ')}`;
    if (step.unless) return `${step.bin} ${step.unless.join(' ')} 2>/dev/null || ${line}`;
    if (step.repeat) return `while ${line} 2>/dev/null; do :; done`;
    return step.mode === 'try' ? `${line} 2>/dev/null || true` : line;
  });
}

/** Every command `apply` runs for these families, as printable lines. */
export function describeApply(config: InterceptionConfig, families: (4 | 6)[] = [4]): string[] {
  return families.flatMap((family) => describePlan(applyPlan(config, family)));
}

/** Runs a command with an argument vector (never a shell), `input` on its stdin; its failure with stderr, or undefined. */
export function exec(bin: string, args: string[], input?: string): Error | undefined {
  try {
    execFileSync(bin, args, input === undefined ? { stdio: ['ignore', 'ignore', 'pipe'] } : { input, stdio: ['pipe', 'ignore', 'pipe'] });
    return undefined;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return new IptablesError(`${bin} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

// A hand-made loop of identical jumps is cleaned up, but never forever.
const MAX_REPEAT = 100;

/** Runs a plan; throws an IptablesError (command and stderr) at the first `must` step that fails. */
export function runPlan(steps: Step[]): void {
  for (const step of steps) {
    if (step.unless && !exec(step.bin, step.unless)) continue;
    if (step.repeat) {
      for (let i = 0; i < MAX_REPEAT && !exec(step.bin, step.args); i++);
      continue;
    }
    const failure = exec(step.bin, step.args);
    if (failure && step.mode === 'must') throw failure;
  }
}

/** Whether ip6tables' nat table can be used here (IPv6 interception is best effort). */
export function ipv6Available(): boolean {
  return exec('ip6tables', ['-t', 'nat', '-L', '-n']) === undefined;
}
