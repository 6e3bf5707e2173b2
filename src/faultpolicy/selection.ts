import { createHash } from 'node:crypto';
import { matchesSelector } from '../fleet/selector.js';
import type { Selection } from './resource.js';

/** A pod a policy may select: its name and labels. */
export interface Candidate {
  name: string;
  labels?: Record<string, string> | undefined;
}

/** How many of `n` matching pods a mode selects; fixed-percent rounds down, as Chaos Mesh does. */
export function selectedCount(selection: Pick<Selection, 'mode' | 'value'>, n: number): number {
  switch (selection.mode) {
    case 'all':
      return n;
    case 'one':
      return Math.min(1, n);
    case 'fixed':
      return Math.min(selection.value, n);
    case 'fixed-percent':
      return Math.floor((n * selection.value) / 100);
  }
}

/** The pod's rendezvous score for a policy: the first 64 bits of SHA-256(uid "/" pod name). */
function score(seed: string, pod: string): bigint {
  return createHash('sha256').update(`${seed}/${pod}`).digest().readBigUInt64BE(0);
}

/**
 * The pods a policy selects among `candidates`, sorted by name: those whose labels match, ranked
 * by rendezvous hashing of their names against `seed` (the policy's uid), the top
 * `selectedCount` of them. The same inputs give the same set wherever it is computed (every
 * sidecar, the controller); a pod keeps its place across restarts (its name does not change);
 * the set changes only when the matching pods or the mode and value do, and then as little as
 * it can: a pod that joins takes a place only if it outranks the last one chosen.
 */
export function choosePods(seed: string, selection: Selection, candidates: readonly Candidate[]): string[] {
  const matching = candidates.filter((c) => matchesSelector(selection.requirements, c.labels ?? {}));
  const count = selectedCount(selection, matching.length);
  if (count === matching.length) return matching.map((c) => c.name).sort();
  return matching
    .map((c) => ({ name: c.name, score: score(seed, c.name) }))
    .sort((a, b) => (a.score === b.score ? a.name.localeCompare(b.name) : a.score > b.score ? -1 : 1))
    .slice(0, count)
    .map((c) => c.name)
    .sort();
}
