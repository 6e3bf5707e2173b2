import { TargetError } from '../errors.js';
import { DriftWatch } from './drift.js';
import { KubernetesActions } from './kubernetes-actions.js';
import { rulePrefix } from './load.js';
import { planActions, withProbability, type Action } from './plan.js';
import { sample, type Sample } from './probes.js';
import { buildReport, type Report, type RunRecord, type RunEvent, type Window } from './report.js';
import type { ExperimentDocument, ProbeSpec } from './schema.js';
import { stats } from './stats.js';
import { createTarget, type Target } from './targets/index.js';

/** Removal attempts per target during rollback, and the pause between them. */
const ROLLBACK_ATTEMPTS = 3;
const ROLLBACK_RETRY_MS = 200;

export interface RunOptions {
  doc: ExperimentDocument;
  file: string;
  seed: number;
  /** Built from the spec when absent; tests and the CLI may pass their own. */
  targets?: Target[];
  onEvent?: (event: RunEvent) => void;
  onSample?: (sample: Sample) => void;
}

/** Why the method stopped early. */
interface Halt {
  result: 'aborted';
  reason: string;
  /** When the condition was seen (ms since the run started). */
  t: number;
  probe?: string;
  /** A condition other than a probe's (shadow traffic drift). */
  condition?: 'drift';
  /** A signal or an error: skip the after phase (nothing left to observe for). */
  urgent: boolean;
}

/**
 * Runs one experiment: probes the steady state before, applies the method's actions to the
 * targets while watching the abort conditions, always rolls back (after the method, on an abort,
 * an error, or `interrupt()` from a signal), watches recovery after, and reports.
 */
export class ExperimentRunner {
  private readonly t0 = performance.now();
  private readonly startedAt = new Date();
  private readonly samples: Sample[] = [];
  private readonly events: RunEvent[] = [];
  private readonly windows: Window[] = [];
  /** Rule names possibly on each target (added before the call, so a half-done apply is rolled back too). */
  private readonly applied = new Map<Target, Set<string>>();
  private readonly wake = new Set<() => void>();
  private halt: Halt | undefined;
  private watching = false;
  private stopped = false;
  private readonly failures = new Map<string, boolean[]>();
  private targets: Target[] = [];
  private readonly cluster = new KubernetesActions({
    now: () => this.now(),
    pause: (ms) => this.pause(ms),
    urgent: () => this.halt?.urgent === true,
    event: (type, message, details) => this.event(type, message, details),
  });

  constructor(private readonly options: RunOptions) {}

  /** ms since the run started. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 100) / 100;
  }

  /** Stops the method at once (SIGINT, SIGTERM): rollback, then the report without the after phase. */
  interrupt(reason: string): void {
    this.stop({ result: 'aborted', reason, t: this.now(), urgent: true });
  }

  async run(): Promise<Report> {
    const { doc } = this.options;
    const prefix = rulePrefix(doc.metadata.name);
    const record: RunRecord = {
      doc,
      file: this.options.file,
      seed: this.options.seed,
      startedAt: this.startedAt,
      samples: this.samples,
      events: this.events,
      windows: this.windows,
      phases: { before: { start: 0, end: 0 }, method: { start: 0, end: 0 }, after: { start: 0, end: 0 } },
      verdict: { result: 'passed', reason: '' },
      rollback: { completed: true, startedAt: null, completedAt: null, targets: [] },
      abort: null,
      drift: null,
      kubernetes: this.cluster.records,
      endedAt: this.startedAt,
      durationMs: 0,
    };
    let probes: Promise<void>[] = [];
    let drift: DriftWatch | undefined;
    try {
      this.targets = this.options.targets ?? (await Promise.all(doc.spec.targets.map((spec) => createTarget(spec, doc.metadata.name))));
      await this.cleanup(prefix);
      drift = new DriftWatch(this.targets, doc.spec.abort);
      await drift.baseline();
      // Probes start once the targets are ready: loading a target's client (the Kubernetes one
      // takes most of a second of CPU) must not count as the probes' latency.
      probes = doc.spec.steadyState.probes.map((p) => this.probeLoop(p));
      record.phases.before.start = this.now();
      this.event('phase', `steady state: watching ${probes.length} probe(s) for ${doc.spec.steadyState.before} ms`);
      await this.pause(doc.spec.steadyState.before);
      record.phases.before.end = this.now();
      const baseline = this.baseline();
      record.phases.method.start = this.now();
      if (baseline) {
        record.verdict = { result: 'failed', reason: baseline };
        this.event('verdict', baseline);
      } else if (!this.halt) {
        this.watching = true;
        drift?.start((reason) => this.stop({ result: 'aborted', reason, t: this.now(), condition: 'drift', urgent: false }));
        this.event('phase', 'method');
        await this.method(planActions(doc, this.options.seed));
      }
    } catch (err) {
      this.stop({ result: 'aborted', reason: `error: ${(err as Error).message}`, t: this.now(), urgent: true });
    } finally {
      await this.rollback(record, prefix);
      this.watching = false;
      await drift?.stop();
      record.drift = drift?.report() ?? null;
    }
    record.phases.method.end = this.now();
    record.phases.after.start = record.phases.method.end;
    if (!this.halt?.urgent) {
      this.event('phase', `recovery: watching for ${doc.spec.steadyState.after} ms`);
      await this.pause(doc.spec.steadyState.after, 'urgent');
    }
    this.stopped = true;
    for (const wake of this.wake) wake();
    await Promise.all(probes);
    record.phases.after.end = this.now();
    if (this.halt) {
      record.verdict = { result: 'aborted', reason: this.halt.reason };
      record.abort = { t: this.halt.t, reason: this.halt.reason, ...(this.halt.probe ? { probe: this.halt.probe } : {}) };
    }
    record.endedAt = new Date();
    record.durationMs = this.now();
    const report = buildReport(record);
    this.event('verdict', `${report.verdict.result}${report.verdict.reason ? `: ${report.verdict.reason}` : ''}`);
    return report;
  }

  /** Rules a previous run of this experiment left behind (a runner that died) go first. */
  private async cleanup(prefix: string): Promise<void> {
    for (const target of this.targets) {
      const stale = await target.list(prefix);
      if (stale.length === 0) continue;
      this.event('cleanup', `removing ${stale.length} rule(s) a previous run left on ${target.name}: ${stale.join(', ')}`, { target: target.name, rules: stale });
      await target.remove(stale);
    }
  }

  /** Why the steady state did not hold before the method, if it did not. */
  private baseline(): string | undefined {
    const min = this.options.doc.spec.steadyState.minAvailability;
    for (const probe of this.options.doc.spec.steadyState.probes) {
      const s = stats(this.samples.filter((x) => x.probe === probe.name));
      if (s.availability === null) return `probe ${probe.name} took no sample before the method`;
      if (s.availability < min) return `the steady state did not hold before the method: probe ${probe.name} availability ${(s.availability * 100).toFixed(1)}% < ${(min * 100).toFixed(1)}%`;
    }
    return undefined;
  }

  private async method(actions: Action[]): Promise<void> {
    const grace = this.options.doc.spec.expiryGrace;
    for (const action of actions) {
      if (this.halt) return;
      if (action.kind === 'wait') {
        this.event('wait', `${action.name}: waiting ${action.ms} ms`);
        await this.pause(action.ms);
        continue;
      }
      if (action.kind === 'podKill' || action.kind === 'scale') {
        await this.cluster.run(action, this.targets.find((t) => t.name === action.target) as Target);
        continue;
      }
      const targets = action.targets.map((name) => this.targets.find((t) => t.name === name) as Target);
      const names = action.rules.map((r) => String(r.name));
      const window: Window = { step: action.name, rules: names, targets: action.targets, start: NaN, end: NaN, probabilities: [] };
      for (const [s, stage] of action.stages.entries()) {
        if (this.halt) break;
        const rules = stage.probability === undefined ? action.rules : action.rules.map((r) => withProbability(r, stage.probability as number));
        const expiresAt = new Date(Date.now() + stage.ms + grace);
        // From the call on, the faults may be in force: the window starts here, not at the answer.
        const calledAt = this.now();
        for (const target of targets) {
          const set = this.applied.get(target) ?? new Set();
          this.applied.set(target, set);
          for (const name of names) set.add(name);
          await target.apply(rules, expiresAt);
        }
        if (s === 0) {
          window.start = calledAt;
          this.windows.push(window);
        }
        if (stage.probability !== undefined) window.probabilities.push({ t: this.now(), probability: stage.probability });
        const at = stage.probability === undefined ? '' : ` at probability ${stage.probability}`;
        this.event('apply', `${action.name}: applied ${names.join(', ')}${at} on ${action.targets.join(', ')} for ${stage.ms} ms`, { step: action.name, rules: names, targets: action.targets, ...(stage.probability === undefined ? {} : { probability: stage.probability }) });
        await this.pause(stage.ms);
      }
      if (this.halt) return; // the rollback removes them, and closes the window
      for (const target of targets) {
        await target.remove(names);
        for (const name of names) this.applied.get(target)?.delete(name);
      }
      window.end = this.now();
      this.event('remove', `${action.name}: removed ${names.join(', ')}`, { step: action.name, rules: names });
    }
  }

  /** Removes every rule the run may have put anywhere, retrying, then checks none is left. */
  private async rollback(record: RunRecord, prefix: string): Promise<void> {
    const pending = [...this.applied].filter(([, names]) => names.size > 0);
    if (pending.length === 0 && this.windows.every((w) => !Number.isNaN(w.end)) && !this.cluster.dirty) return;
    record.rollback.startedAt = this.now();
    this.event('rollback', `rolling back ${pending.map(([t, n]) => `${[...n].join(', ')} on ${t.name}`).join('; ') || 'nothing left'}`);
    for (const [target, names] of pending) {
      let error: string | undefined;
      let remaining: string[] = [...names];
      for (let attempt = 1; attempt <= ROLLBACK_ATTEMPTS; attempt++) {
        try {
          await target.remove([...names]);
          remaining = (await target.list(prefix)).filter((n) => names.has(n));
          error = remaining.length > 0 ? `still there: ${remaining.join(', ')}` : undefined;
        } catch (err) {
          error = err instanceof TargetError ? err.message : String(err);
        }
        if (error === undefined) break;
        await new Promise((resolve) => setTimeout(resolve, ROLLBACK_RETRY_MS));
      }
      record.rollback.targets.push({ target: target.name, removed: [...names], ...(error ? { error } : {}) });
      if (error) record.rollback.completed = false;
      else names.clear();
    }
    await this.cluster.rollback(record.rollback);
    record.rollback.completedAt = this.now();
    for (const window of this.windows) if (Number.isNaN(window.end)) window.end = record.rollback.completedAt;
    this.event('rollback', record.rollback.completed ? `rollback complete in ${(record.rollback.completedAt - (record.rollback.startedAt as number)).toFixed(1)} ms` : 'rollback INCOMPLETE: see the report', { completed: record.rollback.completed });
  }

  private async probeLoop(spec: ProbeSpec): Promise<void> {
    while (!this.stopped) {
      const started = this.now();
      const result = await sample(spec);
      if (this.stopped) return;
      const s: Sample = { probe: spec.name, t: started, ...result };
      this.samples.push(s);
      this.options.onSample?.(s);
      if (this.watching) this.checkAbort(spec, s);
      await this.pause(Math.max(0, spec.interval - (this.now() - started)), 'stop');
    }
  }

  /** The abort conditions, on each sample taken while faults may be in force. */
  private checkAbort(spec: ProbeSpec, s: Sample): void {
    const { consecutiveFailures, failureRatio, window } = this.options.doc.spec.abort;
    const history = this.failures.get(spec.name) ?? [];
    this.failures.set(spec.name, history);
    history.push(!s.ok);
    if (history.length > Math.max(window, consecutiveFailures)) history.shift();
    const recent = history.slice(-consecutiveFailures);
    const why = s.error ?? 'failed';
    if (recent.length === consecutiveFailures && recent.every(Boolean)) {
      return this.stop({ result: 'aborted', reason: `probe ${spec.name} failed ${consecutiveFailures} times in a row (last: ${why})`, t: this.now(), probe: spec.name, urgent: false });
    }
    const last = history.slice(-window);
    const ratio = last.filter(Boolean).length / last.length;
    if (failureRatio !== undefined && last.length === window && ratio > failureRatio) {
      this.stop({ result: 'aborted', reason: `probe ${spec.name} failed ${(ratio * 100).toFixed(0)}% of its last ${window} samples (over ${(failureRatio * 100).toFixed(0)}%)`, t: this.now(), probe: spec.name, urgent: false });
    }
  }

  private stop(halt: Halt): void {
    if (this.halt) {
      // A signal during an abort's after phase still cuts it short.
      if (halt.urgent && !this.halt.urgent) this.halt = { ...this.halt, urgent: true };
      for (const wake of this.wake) wake();
      return;
    }
    this.halt = halt;
    this.event(halt.probe || halt.condition ? 'abort' : 'interrupt', halt.reason, halt.probe ? { probe: halt.probe } : halt.condition ? { condition: halt.condition } : {});
    for (const wake of this.wake) wake();
  }

  /**
   * Sleeps `ms`, cut short when `until` says: `halt` (a method step: any halt), `urgent` (the
   * after phase: a signal or an error), `stop` (a probe's interval: the end of the run).
   */
  private pause(ms: number, until: 'halt' | 'urgent' | 'stop' = 'halt'): Promise<void> {
    const cut = () => this.stopped || (until === 'halt' ? this.halt !== undefined : until === 'urgent' ? this.halt?.urgent === true : false);
    if (cut() || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(check);
        resolve();
      };
      const check = () => cut() && done();
      const timer = setTimeout(done, ms);
      this.wake.add(check);
    });
  }

  private event(type: RunEvent['type'], message: string, details: Record<string, unknown> = {}): void {
    const event: RunEvent = { t: this.now(), type, message, ...details };
    this.events.push(event);
    this.options.onEvent?.(event);
  }
}
