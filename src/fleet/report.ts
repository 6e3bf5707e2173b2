import { z } from 'zod';
import type { TargetResult } from './fanout.js';

/** What GET /status answers (the fields the CLI shows; a newer sidecar may add more). */
export const sidecarStatusSchema = z.looseObject({
  version: z.string(),
  policy: z.looseObject({
    name: z.string(),
    hash: z.string(),
    source: z.string(),
    loadedAt: z.string(),
    fileMissing: z.boolean(),
    lastError: z.object({ at: z.string(), message: z.string() }).nullable(),
  }),
  interception: z.looseObject({ mode: z.string(), state: z.string() }),
  killSwitch: z.boolean(),
  faultsEnabled: z.boolean(),
  faults: z.array(z.looseObject({ rule: z.string(), fault: z.string(), connections: z.number() })),
  connections: z.object({ live: z.number(), faulted: z.number() }),
  runtimeRules: z.number(),
  adminCredentials: z.array(z.enum(['view', 'killswitch', 'rules'])),
  /** FaultPolicy objects (null when the sidecar does not watch them): the watch's state and counts. */
  faultPolicies: z.object({ watch: z.enum(['starting', 'synced', 'stale']), applied: z.number(), invalid: z.number(), total: z.number() }).nullable().optional(),
});
export type SidecarStatus = z.infer<typeof sidecarStatusSchema>;

const resultSchema = z.strictObject({
  target: z.string(),
  result: z.enum(['ok', 'failed', 'skipped', 'not-attempted']),
  reason: z.string().optional(),
  data: z.unknown().optional(),
});

/** The JSON (and YAML) every fleet command prints with `-o json|yaml`. */
export const fleetReportSchema = z.strictObject({
  command: z.string(),
  namespace: z.string().nullable(),
  selector: z.string().nullable(),
  admin: z.string().nullable(),
  interrupted: z.boolean(),
  results: z.array(resultSchema),
  summary: z.strictObject({ targets: z.number(), ok: z.number(), failed: z.number(), skipped: z.number(), notAttempted: z.number() }),
});
export type FleetReport = z.infer<typeof fleetReportSchema>;

/** The report of a command: every result (reported and contacted), sorted by target, counted. */
export function buildReport(command: string, scope: { namespace?: string | undefined; selector?: string | undefined; admin?: string | undefined }, results: TargetResult<unknown>[], interrupted: boolean): FleetReport {
  const sorted = [...results].sort((a, b) => a.target.localeCompare(b.target));
  const count = (r: TargetResult<unknown>['result']) => sorted.filter((x) => x.result === r).length;
  return {
    command,
    namespace: scope.namespace ?? null,
    selector: scope.selector ?? null,
    admin: scope.admin ?? null,
    interrupted,
    results: sorted.map((r) => ({ target: r.target, result: r.result, ...(r.reason !== undefined ? { reason: r.reason } : {}), ...(r.data !== undefined ? { data: r.data } : {}) })),
    summary: { targets: sorted.length, ok: count('ok'), failed: count('failed'), skipped: count('skipped'), notAttempted: count('not-attempted') },
  };
}

/** One line per target that did not answer ("web-0: skipped: no faultline sidecar"), after a table of those that did. */
export function problemLines(report: FleetReport): string {
  return report.results
    .filter((r) => r.result !== 'ok')
    .map((r) => `${r.target}: ${r.result}${r.reason ? `: ${r.reason}` : ''}\n`)
    .join('');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n') + '\n';
}

/** "18 ok, 1 failed, 1 skipped (no sidecar), 0 not attempted" */
export function summaryLine(report: FleetReport): string {
  const { targets, ok, failed, skipped, notAttempted } = report.summary;
  const parts = [`${ok} of ${targets} ok`];
  if (failed) parts.push(`${failed} failed`);
  if (skipped) parts.push(`${skipped} without a faultline sidecar`);
  if (notAttempted) parts.push(`${notAttempted} not attempted (interrupted)`);
  return parts.join(', ');
}
