import type { Difference } from './compare.js';

/** Drifts kept (the newest); older ones are dropped. */
export const DRIFT_LOG_ENTRIES = 100;
/** Differences kept per drift (the first ones, in order: status, headers, trailers, body or JSON paths). */
export const DIFFERENCES_PER_DRIFT = 8;
/** Characters of a value, a path or a header shown; longer ones are cut and end with "…". */
export const VALUE_CHARS = 200;

/** One drift as GET /mirror shows it: bounded in size whatever the traffic. */
export interface DriftEntry {
  at: string;
  rule: string;
  protocol: 'http' | 'grpc';
  method: string;
  path: string;
  status: { primary: number; shadow: number };
  differences: { kind: Difference['kind']; where: string; primary: string | null; shadow: string | null }[];
  /** Differences beyond the ones listed. */
  more: number;
}

/** A value shown in the log: strings as they are, the rest as JSON, cut at VALUE_CHARS. */
export function clip(value: unknown): string | null {
  if (value === undefined) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS - 1)}…` : text;
}

/** The last DRIFT_LOG_ENTRIES drifts of every mirror fault, newest last; memory bounded by the caps above. */
export class DriftLog {
  private readonly entries: DriftEntry[] = [];

  add(entry: Omit<DriftEntry, 'at' | 'differences' | 'more'>, differences: readonly Difference[]): void {
    const shown = differences.slice(0, DIFFERENCES_PER_DRIFT).map((d) => ({ kind: d.kind, where: clip(d.where) as string, primary: clip(d.primary), shadow: clip(d.shadow) }));
    this.entries.push({ at: new Date().toISOString(), ...entry, path: clip(entry.path) as string, differences: shown, more: Math.max(0, differences.length - shown.length) });
    if (this.entries.length > DRIFT_LOG_ENTRIES) this.entries.shift();
  }

  /** The newest `limit` drifts (of `rule` only, when given), oldest first. */
  list(limit = DRIFT_LOG_ENTRIES, rule?: string): DriftEntry[] {
    const own = rule === undefined ? this.entries : this.entries.filter((e) => e.rule === rule);
    return own.slice(-limit);
  }
}
