/**
 * The targets `npm run bench -- --check` holds the sidecar to. Ratios are to the minimal Node
 * pipe proxy, paired: each round's sidecar figure over the pipe's figure of the same round, the
 * median of those ratios; or absolute where said.
 */
import { stats, type Results, type Workload } from './report.js';

export interface Target {
  /** The figure, as named in the report. */
  figure: string;
  /** Reads the value from the results; undefined when not measured. */
  value: (r: Results) => number | undefined;
  /** The value must be at least `min` / at most `max`. */
  min?: number;
  max?: number;
  /** Measured only where the machine allows it (root, network namespaces): not measured is no miss. */
  optional?: boolean;
}

/** The paired ratio of `path` to node-pipe for `workload`: the median over the rounds. */
const paired = (path: string, workload: Workload) => (r: Results) => r.ratios[path]?.[workload]?.median;

/**
 * The sidecar's RSS growth per idle connection; a negative one (RSS fell while the connections
 * were opened: V8 returned more than they took) resolved nothing, and counts as not measured.
 */
function idleKiB(r: Results): number | undefined {
  const kib = r.paths['sidecar-no-policy']?.idleKiBPerConn;
  return kib === undefined || kib < 0 ? undefined : kib;
}

/** The slowest fresh sidecar process over the median fresh pipe process: every process is held to it. */
function freshBulk(r: Results): number | undefined {
  const sidecar = r.fresh?.configs['sidecar-no-policy']?.mibs;
  const pipe = r.fresh?.configs['node-pipe']?.mibs;
  if (!sidecar?.length || !pipe?.length) return undefined;
  return Math.min(...sidecar) / stats(pipe).median;
}

/** The interquartile mean of the paired on-demand/direct ratios (a trimmed mean: steadier than the median). */
function onDemand(figure: 'rps' | 'echoP50us') {
  return (r: Results) => {
    const s = r.transparent?.onDemandRatios?.[figure];
    return s?.trimmedMean ?? s?.median;
  };
}

export const TARGETS: Target[] = [
  { figure: 'sidecar-no-policy new connections/s vs node-pipe', value: paired('sidecar-no-policy', 'connPerSec'), min: 0.95 },
  { figure: 'sidecar-no-policy echo p50 vs node-pipe', value: paired('sidecar-no-policy', 'echoP50us'), max: 1.05 },
  { figure: 'sidecar-no-policy requests/s (keep-alive, Node origin) vs node-pipe', value: paired('sidecar-no-policy', 'httpRps'), min: 0.95 },
  { figure: 'sidecar-no-policy bulk throughput vs node-pipe (in the run)', value: paired('sidecar-no-policy', 'bulkMiBs'), min: 0.95 },
  { figure: 'bulk in fresh processes: the slowest sidecar vs the median node-pipe', value: freshBulk, min: 0.95 },
  { figure: 'sidecar-http-no-match requests/s vs node-pipe (inspecting path)', value: paired('sidecar-http-no-match', 'httpRps'), min: 0.85 },
  { figure: 'sidecar-no-policy KiB per idle connection', value: idleKiB, max: 7 },
  { figure: 'latency error p50 at 100 ms (ms)', value: (r) => (r.accuracy ? Math.abs(r.accuracy.latencyErrorP50Ms) : undefined), max: 2 },
  { figure: 'latency error p99 at 100 ms (ms)', value: (r) => (r.accuracy ? Math.abs(r.accuracy.latencyErrorP99Ms) : undefined), max: 10 },
  { figure: 'bandwidth error, worst rate (%)', value: (r) => (r.accuracy ? Math.max(...Object.values(r.accuracy.bandwidthErrorPct).map(Math.abs)) : undefined), max: 5 },
  { figure: 'policy change to effect on a live connection (ms)', value: (r) => r.accuracy?.reloadToEffectMs, max: 1000 },
  // With no active fault an on-demand pod has no rule at all: both ways within 2% of direct.
  { figure: 'on-demand, no fault: requests/s vs no interception (paired, interquartile mean)', value: onDemand('rps'), min: 0.98, max: 1.02, optional: true },
  { figure: 'on-demand, no fault: echo p50 vs no interception (paired, interquartile mean)', value: onDemand('echoP50us'), min: 0.98, max: 1.02, optional: true },
];

/** The targets missed, each as a line naming the figure; an unmeasured figure is a miss too. */
export function check(results: Results, targets: Target[] = TARGETS): string[] {
  const missed: string[] = [];
  for (const t of targets) {
    const v = t.value(results);
    if ((v === undefined || Number.isNaN(v)) && t.optional) continue;
    if (v === undefined || Number.isNaN(v)) missed.push(`${t.figure}: not measured`);
    else if (t.min !== undefined && v < t.min) missed.push(`${t.figure}: ${v.toFixed(3)} < ${t.min}`);
    else if (t.max !== undefined && v > t.max) missed.push(`${t.figure}: ${v.toFixed(3)} > ${t.max}`);
  }
  return missed;
}

/** What bench/l7-overhead.ts reports (ratios to the plain-pipe sidecar in the same run). */
export interface L7Results {
  httpKeepAlive: { l7VsPlain: number };
  grpcUnary: { l7VsPlain: number };
  /** A new L7 rule, written to the policy file, to its first faulted answer on a connection opened before it (ms). */
  pooledReachMs: { http1: number | undefined; grpc: number | undefined };
}

/** The L7 targets `node --import tsx bench/l7-overhead.ts --check` holds the sidecar to (issue 14). */
export const L7_TARGETS: { figure: string; value: (r: L7Results) => number | undefined; min?: number; max?: number }[] = [
  { figure: 'HTTP/1.1 keep-alive requests/s, an HTTP rule matching nothing, vs the plain pipe', value: (r) => r.httpKeepAlive.l7VsPlain, min: 0.85 },
  { figure: 'gRPC unary calls/s on an inspected listener vs the plain pipe', value: (r) => r.grpcUnary.l7VsPlain, min: 0.85 },
  { figure: 'new L7 rule to its effect on a live keep-alive HTTP/1.1 connection (ms)', value: (r) => r.pooledReachMs.http1, max: 1000 },
  { figure: 'new L7 rule to its effect on a live gRPC channel (ms)', value: (r) => r.pooledReachMs.grpc, max: 1000 },
];

/** The L7 targets missed, a line each; an unmeasured figure is a miss. */
export function checkL7(results: L7Results): string[] {
  const missed: string[] = [];
  for (const t of L7_TARGETS) {
    const v = t.value(results);
    if (v === undefined || Number.isNaN(v)) missed.push(`${t.figure}: not measured`);
    else if (t.min !== undefined && v < t.min) missed.push(`${t.figure}: ${v.toFixed(3)} < ${t.min}`);
    else if (t.max !== undefined && v > t.max) missed.push(`${t.figure}: ${v.toFixed(0)} > ${t.max}`);
  }
  return missed;
}
