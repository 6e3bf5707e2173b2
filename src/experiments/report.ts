import type { DriftReport } from './drift.js';
import type { KubernetesRecord } from './kubernetes-steps.js';
import type { Sample } from './probes.js';
import { probeTarget } from './probes.js';
import type { ExperimentDocument } from './schema.js';
import { recoveries, stats, type Span, type Stats } from './stats.js';

/** Something the runner did or saw, at `t` ms since the start. */
export interface RunEvent {
  t: number;
  type: 'phase' | 'cleanup' | 'wait' | 'apply' | 'remove' | 'abort' | 'interrupt' | 'rollback' | 'verdict';
  message: string;
  [detail: string]: unknown;
}

/** A stretch during which a step's faults may have been in force: from the apply call to the end of their removal. */
export interface Window extends Span {
  step: string;
  rules: string[];
  targets: string[];
  /** Ramp stages: when each probability took effect. */
  probabilities: { t: number; probability: number }[];
}

export interface Verdict {
  result: 'passed' | 'failed' | 'aborted';
  reason: string;
}

export interface RollbackRecord {
  /** Every rule the run put on a target is gone (checked by listing them), every Deployment scaled back. */
  completed: boolean;
  startedAt: number | null;
  completedAt: number | null;
  targets: { target: string; removed: string[]; restored?: string; error?: string }[];
}

/** Everything a run recorded, from which the report is computed. */
export interface RunRecord {
  doc: ExperimentDocument;
  file: string;
  seed: number;
  startedAt: Date;
  endedAt: Date;
  durationMs: number;
  samples: Sample[];
  events: RunEvent[];
  windows: Window[];
  phases: { before: Span; method: Span; after: Span };
  verdict: Verdict;
  rollback: RollbackRecord;
  abort: { t: number; reason: string; probe?: string } | null;
  /** Shadow traffic (mirror rules) on the targets during the run, when there was any. */
  drift: DriftReport | null;
  /** podKill and scale steps. */
  kubernetes: KubernetesRecord[];
}

export interface ProbeReport {
  name: string;
  watches: string;
  intervalMs: number;
  maxLatencyMs: number | null;
  before: Stats;
  during: Stats;
  after: Stats;
  overall: Stats;
  /** Time to recover after each window, in window order (null: never recovered). */
  recoveryMs: (number | null)[];
}

/** The JSON report (`--output`); the HTML page is drawn from it. */
export interface Report {
  experiment: string;
  file: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  seed: number;
  verdict: Verdict;
  rollback: RollbackRecord;
  abort: RunRecord['abort'];
  drift: DriftReport | null;
  phases: RunRecord['phases'];
  windows: Window[];
  events: RunEvent[];
  probes: ProbeReport[];
  /** podKill and scale steps: what each did and its recovery time (MTTR). */
  kubernetes: KubernetesRecord[];
  /** Mean and max of their recovery times (ms), over those that recovered; null when none ran. */
  mttr: { steps: number; recovered: number; meanMs: number | null; maxMs: number | null } | null;
  /** Every sample taken, in time order: enough to recompute every number above. */
  samples: Sample[];
  definitions: Record<string, string>;
}

const DEFINITIONS = {
  t: 'ms since startedAt (a sample: when it was started)',
  availability: 'ok samples / samples',
  errorRate: 'samples with an error (no answer, refused or reset, timeout, unexpected status) / samples; slow but correct answers are not errors',
  percentiles: 'nearest rank over all samples\' latencies: the value at rank ceil(p/100 * n) of the sorted list',
  phases: 'before: [before.start, before.end); during: [method.start, method.end) (until the rollback completed); after: from method.end',
  drift: 'per target and mirror rule, the requests its mirror fault compared or skipped during the run (counter differences from its start to its end); driftRatio = drift / (match + drift)',
  mttrMs: 'podKill: from the first deletion until as many of the selector\'s pods are ready as before; scale: from the scale back until the original replicas are ready',
  recoveryMs: 'per window: from its end to the first sample of the run of ok samples that lasts until the next window (or the end); 0 when that run began before the window ended; null when the probe never recovered',
};

const within = (span: Span) => (s: Sample) => s.t >= span.start && s.t < span.end;

/** Computes the report from what the run recorded. */
export function buildReport(record: RunRecord): Report {
  const { phases } = record;
  const samples = [...record.samples].sort((a, b) => a.t - b.t);
  const probes = record.doc.spec.steadyState.probes.map((probe): ProbeReport => {
    const own = samples.filter((s) => s.probe === probe.name);
    return {
      name: probe.name,
      watches: probeTarget(probe),
      intervalMs: probe.interval,
      maxLatencyMs: probe.maxLatency ?? null,
      before: stats(own.filter(within(phases.before))),
      during: stats(own.filter(within(phases.method))),
      after: stats(own.filter((s) => s.t >= phases.after.start)),
      overall: stats(own),
      recoveryMs: recoveries(own, record.windows, phases.after.end),
    };
  });
  let verdict = record.verdict;
  if (verdict.result === 'passed') {
    const unrecovered = probes.find((p) => !samples.filter((s) => s.probe === p.name).at(-1)?.ok);
    if (unrecovered) verdict = { result: 'failed', reason: `probe ${unrecovered.name} had not recovered when the run ended` };
  }
  if (verdict.result === 'passed' && !record.rollback.completed) verdict = { result: 'failed', reason: 'the rollback did not complete' };
  const unrecovered = record.kubernetes.find((k) => !k.recovered);
  if (verdict.result === 'passed' && unrecovered) verdict = { result: 'failed', reason: `${unrecovered.action} step ${unrecovered.step}: ${unrecovered.error ?? 'the pods did not recover'}` };
  const times = record.kubernetes.map((k) => k.mttrMs).filter((m): m is number => m !== null);
  if (verdict.result === 'passed') verdict = { result: 'passed', reason: 'the steady state held before the method, no abort condition was met, and every probe was ok at the end' };
  return {
    experiment: record.doc.metadata.name,
    file: record.file,
    startedAt: record.startedAt.toISOString(),
    endedAt: record.endedAt.toISOString(),
    durationMs: record.durationMs,
    seed: record.seed,
    verdict,
    rollback: record.rollback,
    abort: record.abort,
    drift: record.drift,
    phases,
    windows: record.windows,
    events: record.events,
    probes,
    kubernetes: record.kubernetes,
    mttr: record.kubernetes.length === 0 ? null : { steps: record.kubernetes.length, recovered: times.length, meanMs: times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : null, maxMs: times.length ? Math.max(...times) : null },
    samples,
    definitions: DEFINITIONS,
  };
}
