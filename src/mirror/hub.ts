import type { ExchangeTap, FaultEnvironment, FaultRuntime } from '../faults/types.js';
import type { MirrorOptions } from '../faults/mirror.js';
import { ByteBudget } from './body.js';
import { DRIFT_LOG_ENTRIES, DriftLog } from './drift-log.js';
import { MirroredExchange } from './exchange.js';
import { NoiseModel } from './noise.js';
import { OutgoingPools } from './shadow.js';

/** Mirrored requests in flight at once, all rules together; over it a request is skipped. */
export const MAX_IN_FLIGHT = 256;
/** Body bytes all comparisons together may keep (request bodies, json bodies); over it a comparison is skipped. */
export const BUFFER_BUDGET_BYTES = 64 * 1024 * 1024;
/** The drift ratio gauge looks at this many of a rule's last compared requests. */
export const RATIO_WINDOW = 100;

export type MirrorResult = 'match' | 'drift' | 'shadow_error' | 'skipped';
const RESULTS: readonly MirrorResult[] = ['match', 'drift', 'shadow_error', 'skipped'];

/** One mirror fault's counters and state, for as long as the fault (its key) is in the policy. */
export interface MirrorStats {
  readonly key: string;
  readonly rule: string;
  readonly upstream: string;
  readonly counts: Record<MirrorResult, number>;
  inFlight: number;
  /** The last RATIO_WINDOW compared requests: true for a drift. */
  readonly recent: boolean[];
  readonly noise: NoiseModel | undefined;
  /** Origins its requests went to (the shadow, and the primary for noise learning): their pools stay. */
  readonly origins: Set<string>;
}

/** One mirror fault's counters and recent drift ratio (null before any comparison). */
export interface MirrorSummary {
  rule: string;
  upstream: string;
  counts: Record<MirrorResult, number>;
  driftRatio: number | null;
}

/**
 * The mirror fault's sidecar-wide runtime: the shadow pools, the caps on the whole pipeline
 * (MAX_IN_FLIGHT requests, BUFFER_BUDGET_BYTES kept), each fault's counters, noise model and
 * drift ratio, and the drift log `GET /mirror` shows. Made once per sidecar by the engine.
 */
export class MirrorHub implements FaultRuntime {
  readonly pools = new OutgoingPools();
  readonly budget = new ByteBudget(BUFFER_BUDGET_BYTES);
  readonly drifts = new DriftLog();
  private readonly stats = new Map<string, MirrorStats>();
  private inFlight = 0;
  private readonly log;

  constructor(private readonly env: FaultEnvironment) {
    this.log = env.log.child({ component: 'mirror' });
  }

  /** The tap for one mirrored request of `fault`. */
  tap(fault: { rule: string; key: string }, options: MirrorOptions, random: () => number): ExchangeTap {
    let stats = this.stats.get(fault.key);
    if (!stats) {
      stats = {
        key: fault.key,
        rule: fault.rule,
        upstream: options.upstream,
        counts: { match: 0, drift: 0, shadow_error: 0, skipped: 0 },
        inFlight: 0,
        recent: [],
        noise: options.compare.noise === 'learn' ? new NoiseModel() : undefined,
        origins: new Set([options.target.origin]),
      };
      this.stats.set(fault.key, stats);
    }
    return new MirroredExchange(this, stats, options, random);
  }

  /** Takes a slot for a mirrored request; the reason when a cap says no (the request is then skipped). */
  admit(stats: MirrorStats, options: MirrorOptions): string | undefined {
    if (stats.inFlight >= options.concurrency) return `over the fault's concurrency (${options.concurrency})`;
    if (this.inFlight >= MAX_IN_FLIGHT) return `over the mirror pipeline's cap (${MAX_IN_FLIGHT} in flight)`;
    stats.inFlight++;
    this.inFlight++;
    return undefined;
  }

  release(stats: MirrorStats): void {
    stats.inFlight--;
    this.inFlight--;
  }

  /** Counts a mirrored request's result (metrics, drift ratio). */
  record(stats: MirrorStats, result: MirrorResult, detail?: string): void {
    stats.counts[result]++;
    const { metrics } = this.env;
    metrics.mirrorRequests.inc({ rule: stats.rule, result });
    if (result === 'match' || result === 'drift') {
      stats.recent.push(result === 'drift');
      if (stats.recent.length > RATIO_WINDOW) stats.recent.shift();
      metrics.mirrorDriftRatio.set({ rule: stats.rule }, driftRatio(stats));
    }
    if (detail && result !== 'match' && result !== 'drift') this.log.debug({ rule: stats.rule, result, detail }, 'mirrored request not compared');
  }

  /** Remembers an origin a fault's requests use, so its pool is kept across policy changes. */
  uses(stats: MirrorStats, origin: string): void {
    stats.origins.add(origin);
  }

  /** Per fault in force: its counters and recent drift ratio (GET /faults, the /ui). */
  summary(): MirrorSummary[] {
    return [...this.stats.values()].map((s) => ({ rule: s.rule, upstream: s.upstream, counts: { ...s.counts }, driftRatio: s.recent.length > 0 ? driftRatio(s) : null }));
  }

  /** GET /mirror: the pipeline's use of its caps, each fault's counters, and the newest drifts. */
  view(limit = DRIFT_LOG_ENTRIES, rule?: string): Record<string, unknown> {
    return {
      limits: { inFlight: MAX_IN_FLIGHT, bufferBytes: BUFFER_BUDGET_BYTES, driftLog: DRIFT_LOG_ENTRIES, ratioWindow: RATIO_WINDOW },
      inFlight: this.inFlight,
      bufferedBytes: this.budget.used,
      rules: [...this.stats.values()]
        .filter((s) => rule === undefined || s.rule === rule)
        .map((s) => ({ rule: s.rule, upstream: s.upstream, counts: { ...s.counts }, inFlight: s.inFlight, driftRatio: s.recent.length > 0 ? driftRatio(s) : null, compared: s.recent.length, ...(s.noise ? { noise: s.noise.view() } : {}) })),
      drifts: this.drifts.list(limit, rule),
    };
  }

  policyChanged(keys: ReadonlySet<string>): void {
    for (const key of this.stats.keys()) if (!keys.has(key)) this.stats.delete(key);
    this.pools.prune(new Set([...this.stats.values()].flatMap((s) => [...s.origins])));
  }

  async close(): Promise<void> {
    await this.pools.close();
  }
}

function driftRatio(stats: MirrorStats): number {
  return stats.recent.filter(Boolean).length / stats.recent.length;
}

export { RESULTS as MIRROR_RESULTS };
