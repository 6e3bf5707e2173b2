import type { Target } from './targets/index.js';

/** A target's mirror counters per rule (`GET /mirror`). */
export type MirrorCounts = Record<string, { match: number; drift: number; shadow_error: number; skipped: number }>;

/** How often the targets' mirror counters are read while the method runs. */
export const DRIFT_POLL_MS = 500;

export interface DriftAbort {
  /** Halt when a mirror rule's drift / (match + drift) since the run started is over this. */
  driftRatio?: number | undefined;
  /** Compared requests a rule needs before its ratio counts. */
  driftMinRequests: number;
}

/** Per target and mirror rule: what its shadow traffic did during the run. */
export interface DriftReport {
  targets: { target: string; rules: { rule: string; match: number; drift: number; shadowError: number; skipped: number; driftRatio: number | null }[] }[];
}

/**
 * Shadow traffic during an experiment (a DR drill): the mirror counters of every target that
 * has them (admin targets), read at the start and then every DRIFT_POLL_MS while the method
 * runs; the run's figures are the differences. With `driftRatio`, a rule drifting more than
 * that (over at least `driftMinRequests` compared requests) halts the experiment.
 */
export class DriftWatch {
  private readonly base = new Map<Target, MirrorCounts>();
  private readonly last = new Map<Target, MirrorCounts>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(private readonly targets: Target[], private readonly abort: DriftAbort) {}

  /** Reads the counters the run starts from. */
  async baseline(): Promise<void> {
    for (const target of this.targets) {
      const counts = await this.read(target);
      if (counts) this.base.set(target, counts);
    }
  }

  /** Polls while the method runs; `halt` is called (once) with the reason when a rule drifts too much. */
  start(halt: (reason: string) => void): void {
    let halted = false;
    const tick = () => {
      this.polling = this.poll().then(() => {
        const reason = this.over();
        if (reason && !halted) (halted = true), halt(reason);
        if (this.timer) this.timer = setTimeout(tick, DRIFT_POLL_MS);
      });
    };
    this.timer = setTimeout(tick, DRIFT_POLL_MS);
  }

  /** Stops polling and reads the counters a last time. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await this.poll();
  }

  /** The run's shadow traffic, or null when no target mirrored anything. */
  report(): DriftReport | null {
    const targets = this.targets
      .map((target) => ({ target: target.name, rules: this.deltas(target).map(({ rule, d }) => ({ rule, match: d.match, drift: d.drift, shadowError: d.shadow_error, skipped: d.skipped, driftRatio: d.match + d.drift > 0 ? d.drift / (d.match + d.drift) : null })) }))
      .filter((t) => t.rules.length > 0);
    return targets.length > 0 ? { targets } : null;
  }

  private async read(target: Target): Promise<MirrorCounts | undefined> {
    try {
      return await target.mirror?.();
    } catch {
      return undefined; // unreachable this time: the next poll tries again
    }
  }

  private async poll(): Promise<void> {
    await Promise.all(this.targets.map(async (target) => {
      const counts = await this.read(target);
      // A rule the rollback removed is no longer listed: its last counters stand.
      if (counts) this.last.set(target, { ...this.last.get(target), ...counts });
    }));
  }

  private deltas(target: Target): { rule: string; d: MirrorCounts[string] }[] {
    const base = this.base.get(target) ?? {};
    return Object.entries(this.last.get(target) ?? {})
      .map(([rule, c]) => {
        const b = base[rule] ?? { match: 0, drift: 0, shadow_error: 0, skipped: 0 };
        return { rule, d: { match: c.match - b.match, drift: c.drift - b.drift, shadow_error: c.shadow_error - b.shadow_error, skipped: c.skipped - b.skipped } };
      })
      .filter(({ d }) => d.match + d.drift + d.shadow_error + d.skipped > 0);
  }

  private over(): string | undefined {
    const limit = this.abort.driftRatio;
    if (limit === undefined) return undefined;
    for (const target of this.targets) {
      for (const { rule, d } of this.deltas(target)) {
        const compared = d.match + d.drift;
        if (compared >= this.abort.driftMinRequests && d.drift / compared > limit) {
          return `mirror rule ${rule} on ${target.name} drifted on ${((d.drift / compared) * 100).toFixed(0)}% of ${compared} compared requests (over ${(limit * 100).toFixed(0)}%)`;
        }
      }
    }
    return undefined;
  }
}
