import { execFileSync } from 'node:child_process';
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
};

export const CHAINS = {
  inbound: 'FAULTLINE_INBOUND',
  inRedirect: 'FAULTLINE_IN_REDIRECT',
  output: 'FAULTLINE_OUTPUT',
  redirect: 'FAULTLINE_REDIRECT',
} as const;

/** The two jumps from the built-in chains into ours. */
const JUMPS: [string, string][] = [
  ['PREROUTING', CHAINS.inbound],
  ['OUTPUT', CHAINS.output],
];

/** The rules of our own chains for one IP family, as `-A CHAIN ...` argument vectors. */
export function buildRules(config: InterceptionConfig, family: 4 | 6): string[][] {
  const rules: string[][] = [];
  const add = (chain: string, ...args: string[]) => rules.push(['-A', chain, ...args]);
  const loopback = family === 4 ? '127.0.0.1/32' : '::1/128';

  add(CHAINS.inRedirect, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(config.inboundCapturePort));
  add(CHAINS.redirect, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(config.outboundCapturePort));

  // Inbound: never the capture ports or the sidecar's own ports, nor excluded ports.
  const neverInbound = new Set([config.inboundCapturePort, config.outboundCapturePort, ...config.sidecarPorts, ...config.excludeInboundPorts]);
  if (config.inboundPorts === '*') {
    for (const port of [...neverInbound].sort((a, b) => a - b)) add(CHAINS.inbound, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
    add(CHAINS.inbound, '-p', 'tcp', '-j', CHAINS.inRedirect);
  } else {
    for (const port of config.inboundPorts) {
      if (!neverInbound.has(port)) add(CHAINS.inbound, '-p', 'tcp', '--dport', String(port), '-j', CHAINS.inRedirect);
    }
  }

  // Outbound: the proxy's own connections go out untouched (else they would loop back into it).
  add(CHAINS.output, '-m', 'owner', '--uid-owner', String(config.proxyUid), '-j', 'RETURN');
  add(CHAINS.output, '-m', 'owner', '--gid-owner', String(config.proxyGid), '-j', 'RETURN');
  add(CHAINS.output, '-o', 'lo', '-j', 'RETURN');
  add(CHAINS.output, '-d', loopback, '-j', 'RETURN');
  for (const port of config.excludeOutboundPorts) add(CHAINS.output, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
  for (const { cidr } of config.excludeOutboundCidrs.filter((c) => c.family === family)) add(CHAINS.output, '-d', cidr, '-j', 'RETURN');
  const include = config.includeOutboundCidrs.filter((c) => c.family === family);
  if (config.includeOutboundCidrs.length === 0) add(CHAINS.output, '-p', 'tcp', '-j', CHAINS.redirect);
  else for (const { cidr } of include) add(CHAINS.output, '-p', 'tcp', '-d', cidr, '-j', CHAINS.redirect);
  return rules;
}

/** Every command `apply` runs, as printable lines (what --dry-run shows). */
export function describeApply(config: InterceptionConfig, families: (4 | 6)[] = [4]): string[] {
  const lines: string[] = [];
  for (const family of families) {
    const bin = family === 4 ? 'iptables' : 'ip6tables';
    for (const chain of Object.values(CHAINS)) lines.push(`${bin} -t nat -N ${chain}`, `${bin} -t nat -F ${chain}`);
    for (const rule of buildRules(config, family)) lines.push(`${bin} -t nat ${rule.join(' ')}`);
    for (const [from, to] of JUMPS) lines.push(`${bin} -t nat -A ${from} -p tcp -j ${to}`);
  }
  return lines;
}

type Run = (bin: string, args: string[]) => boolean;

/** Runs iptables with an argument vector (no shell); false when it exits non-zero. */
const run: Run = (bin, args) => {
  try {
    execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return true;
  } catch {
    return false;
  }
};

/** Runs a command that must succeed, with its stderr in the error. */
function must(bin: string, args: string[]): void {
  try {
    execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${bin} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/**
 * Applies the rules idempotently: our chains are created if missing and rebuilt, the jumps
 * into them added only when absent. Running it twice leaves the same rules.
 */
export function applyRules(config: InterceptionConfig, family: 4 | 6 = 4): void {
  const bin = family === 4 ? 'iptables' : 'ip6tables';
  for (const chain of Object.values(CHAINS)) {
    run(bin, ['-t', 'nat', '-N', chain]);
    must(bin, ['-t', 'nat', '-F', chain]);
  }
  for (const rule of buildRules(config, family)) must(bin, ['-t', 'nat', ...rule]);
  for (const [from, to] of JUMPS) {
    const jump = [from, '-p', 'tcp', '-j', to];
    if (!run(bin, ['-t', 'nat', '-C', ...jump])) must(bin, ['-t', 'nat', '-A', ...jump]);
  }
}

/** Removes the jumps and our chains; harmless when they are not there. */
export function cleanupRules(family: 4 | 6 = 4): void {
  const bin = family === 4 ? 'iptables' : 'ip6tables';
  for (const [from, to] of JUMPS) {
    while (run(bin, ['-t', 'nat', '-D', from, '-p', 'tcp', '-j', to])) {
      // a jump added twice by hand is removed too
    }
  }
  for (const chain of Object.values(CHAINS)) run(bin, ['-t', 'nat', '-F', chain]);
  for (const chain of Object.values(CHAINS)) run(bin, ['-t', 'nat', '-X', chain]);
}

/** Whether ip6tables' nat table can be used here (IPv6 interception is best effort). */
export function ipv6Available(): boolean {
  return run('ip6tables', ['-t', 'nat', '-L', '-n']);
}
