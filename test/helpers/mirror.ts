import { mirror } from '../../src/faults/mirror.js';
import type { MirrorResult } from '../../src/mirror/hub.js';
import type { Sidecar } from '../../src/sidecar.js';

export type Counts = Record<MirrorResult, number>;

/** Each mirror rule's counters, from the sidecar's mirror runtime. */
export async function mirrorCounts(sidecar: Sidecar): Promise<Map<string, Counts>> {
  const summary = sidecar.engine.runtimeOf(mirror)?.summary() ?? [];
  return new Map(summary.map((s) => [s.rule, s.counts]));
}

/** Waits (at most `ms`) until `rule`'s counters add up to `total`, and returns them. */
export async function waitForCounts(sidecar: Sidecar, rule: string, total: number, ms = 20_000): Promise<Counts> {
  const deadline = Date.now() + ms;
  for (;;) {
    const counts = (await mirrorCounts(sidecar)).get(rule) ?? { match: 0, drift: 0, shadow_error: 0, skipped: 0 };
    const sum = counts.match + counts.drift + counts.shadow_error + counts.skipped;
    if (sum >= total || Date.now() > deadline) return counts;
    await new Promise((r) => setTimeout(r, 20));
  }
}
