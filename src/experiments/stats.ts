import type { Sample } from './probes.js';

/**
 * The report's numbers, computed from the raw samples alone (the JSON report carries them, so
 * anyone can recompute these). Definitions, as the README states them:
 * - availability: ok samples / samples; errorRate: samples with an error (no answer, a refused
 *   or reset connection, a timeout, an unexpected status) / samples. A sample that answered as
 *   expected but slower than maxLatency is neither ok nor an error.
 * - p50/p99: nearest rank over the latencies of all samples (a failed one counts the time until
 *   it failed): the value at rank ceil(p/100 * n) of the sorted list.
 * - recovery (MTTR) of a fault window: from its end to the first sample of the run of ok samples
 *   that lasts until the next window starts (or the run ends); 0 when that run began before the
 *   window ended; null when the probe never recovered.
 */

export interface Stats {
  samples: number;
  ok: number;
  availability: number | null;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

/** A time span in ms since the run started. */
export interface Span {
  start: number;
  end: number;
}

/** The latency at percentile `p` (nearest rank), or null without samples. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Availability, error rate and latency percentiles of some samples. */
export function stats(samples: readonly Sample[]): Stats {
  const n = samples.length;
  const ok = samples.filter((s) => s.ok).length;
  const errors = samples.filter((s) => !s.ok && !(s.error ?? '').startsWith('slower than')).length;
  const latencies = samples.map((s) => s.latencyMs);
  return {
    samples: n,
    ok,
    availability: n === 0 ? null : ok / n,
    errorRate: n === 0 ? null : errors / n,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/**
 * Time to recover after each window, for one probe's samples (in time order), per the
 * definition above. `until` is when the run ended.
 */
export function recoveries(samples: readonly Sample[], windows: readonly Span[], until: number): (number | null)[] {
  return windows.map((window, w) => {
    const next = windows[w + 1]?.start ?? until;
    const after = samples.filter((s) => s.t >= window.end && s.t < next);
    if (after.length === 0 || !after[after.length - 1]?.ok) return null;
    let first = after.length - 1;
    while (first > 0 && after[first - 1]?.ok) first--;
    if (first === 0) {
      // The ok run reaches back to the window's end: did it start before it?
      const before = samples.filter((s) => s.t < window.end);
      if (before.length > 0 && before[before.length - 1]?.ok) return 0;
    }
    return Math.max(0, (after[first] as Sample).t - window.end);
  });
}
