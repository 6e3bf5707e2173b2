import type { RuntimeLayers } from '../admin/layers.js';
import { PolicyError } from '../errors.js';
import { matchesSelector } from '../fleet/selector.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { CoalescedPass } from '../serial-queue.js';
import type { PolicyOverlay } from '../sidecar.js';
import { checkFaultPolicy, selectorQuery, type FaultPolicyObject, type LabelSelector, type Selection } from './resource.js';
import { choosePods, type Candidate } from './selection.js';
import type { WatchState } from './watcher.js';

/** What became of one FaultPolicy object in this pod. */
export interface PolicyOutcome {
  name: string;
  uid: string;
  generation: number;
  /** Of the checked policy (its spec without the selection); absent when invalid. */
  hash?: string;
  state: 'applied' | 'not-selected' | 'disabled' | 'expired' | 'invalid';
  /** Why it is invalid or could not be applied; rule names that lost to another layer. */
  error?: string;
  notes?: string[];
}

export interface FaultPolicyLayerOptions {
  layers: RuntimeLayers;
  pod: { name: string; namespace: string; labels(): Promise<Record<string, string>> };
  /** The candidates for a selection that needs them (one, fixed, fixed-percent): the namespace's injected pods matching `labelSelector`. */
  listPods: (labelSelector: string) => Promise<Candidate[]>;
  log: Logger;
  metrics: Metrics;
  kernelFaults?: boolean;
  now?: () => number;
}

const MAX_ERROR = 500;

/**
 * The sidecar's FaultPolicy layer: from the namespace's FaultPolicy objects (fed by the watch),
 * the rules and listeners of those that select this pod, in object-name order, become the
 * `faultpolicies` part of the runtime layer (file < FaultPolicy objects < runtime rules). Each
 * object is checked whole first (its fault types' own fields too) and never applied when
 * invalid; one that fits alone but not with the others is left out and says why. Evaluations
 * run one at a time; nothing is re-applied when the result is unchanged.
 */
export class FaultPolicyLayer {
  private outcomes: PolicyOutcome[] = [];
  private objects: FaultPolicyObject[] = [];
  private applied = '';
  /** Evaluations run one at a time; one asked for meanwhile runs right after. */
  private readonly evaluations = new CoalescedPass(() => this.evaluateOnce());
  watch: { state: WatchState; lastSyncAt: Date | undefined; lastError: string | undefined } = { state: 'starting', lastSyncAt: undefined, lastError: undefined };

  constructor(private readonly options: FaultPolicyLayerOptions) {}

  /** New objects from the watch: evaluated at once (or right after the evaluation running now). */
  update(objects: Iterable<FaultPolicyObject>): Promise<void> {
    this.objects = [...objects].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return this.evaluate();
  }

  /** The watch's state: stale keeps the last good set applied, and says so. */
  setWatchState(state: WatchState, lastSyncAt: Date | undefined, lastError: string | undefined): void {
    this.watch = { state, lastSyncAt, lastError };
    this.options.metrics.faultPolicyWatchUp.set(state === 'synced' ? 1 : 0);
    if (state === 'stale') this.options.log.warn({ cause: lastError }, 'FaultPolicy watch: the API server cannot be reached; keeping the last good FaultPolicy set');
    else if (state === 'synced') this.options.log.info('FaultPolicy watch: in sync');
  }

  /** Evaluates again with the same objects (labels or the pod set may have changed). */
  evaluate(): Promise<void> {
    return this.evaluations.request();
  }

  /** What `/faultpolicies` on the metrics port serves (the controller reads it for the status). */
  document(): Record<string, unknown> {
    return { pod: this.options.pod.name, namespace: this.options.pod.namespace, watch: this.watchView(), policies: this.outcomes };
  }

  /** GET /policy's `faultPolicies`: the watch, and each object's fate here. */
  view(): Record<string, unknown> {
    const runtime = this.options.layers.runtimeNames();
    const part = this.options.layers.get('faultpolicies');
    const shadowed = part.rules.map((r) => String(r.name)).filter((n) => runtime.rules.has(n));
    return { source: `kubernetes namespace ${this.options.pod.namespace}`, pod: this.options.pod.name, watch: this.watchView(), policies: this.outcomes, ...(shadowed.length ? { shadowedByRuntimeRules: shadowed } : {}) };
  }

  /** GET /status's `faultPolicies`: counts. */
  summary(): Record<string, unknown> {
    const count = (state: PolicyOutcome['state']) => this.outcomes.filter((o) => o.state === state).length;
    return { watch: this.watch.state, applied: count('applied'), invalid: count('invalid'), total: this.outcomes.length };
  }

  private watchView(): Record<string, unknown> {
    return { state: this.watch.state, lastSyncAt: this.watch.lastSyncAt?.toISOString() ?? null, lastError: this.watch.lastError ?? null, keepingLastGood: this.watch.state === 'stale' };
  }

  private async evaluateOnce(): Promise<void> {
    const labels = await this.options.pod.labels();
    const now = (this.options.now ?? Date.now)();
    const candidates = new Map<string, Promise<Candidate[]>>();
    // Rules may name the listeners of the file (and of the runtime layer) as well as their own.
    const knownListeners = this.options.layers.sidecar.policy.listeners.map((l) => l.name);
    const selected: { outcome: PolicyOutcome; rules: Record<string, unknown>[]; listeners: Record<string, unknown>[] }[] = [];
    const outcomes: PolicyOutcome[] = [];
    for (const object of this.objects) {
      const base = { name: object.metadata.name, uid: String(object.metadata.uid ?? ''), generation: Number(object.metadata.generation ?? 0) };
      const checked = checkFaultPolicy(object, { kernelFaults: this.options.kernelFaults === true, knownListeners });
      if (!checked.ok) {
        outcomes.push({ ...base, state: 'invalid', error: clip(checked.problems.join('; ')) });
        continue;
      }
      const outcome: PolicyOutcome = { ...base, hash: checked.policy.hash, state: 'not-selected' };
      outcomes.push(outcome);
      if (!(await this.selects(object, checked.selection, labels, candidates))) continue;
      if (!checked.policy.enabled) outcome.state = 'disabled';
      else if (checked.policy.expiresAt !== undefined && checked.policy.expiresAt <= now) outcome.state = 'expired';
      else {
        outcome.state = 'applied';
        const until = checked.policy.document.spec.expiresAt;
        // The object's expiresAt bounds each of its rules (the file's own spec.expiresAt stays the file's).
        const rules = checked.rules.map((r) => (until && (!r.expiresAt || Date.parse(String(r.expiresAt)) > Date.parse(until)) ? { ...r, expiresAt: until } : r));
        selected.push({ outcome, rules, listeners: checked.listeners });
      }
    }
    await this.apply(selected);
    this.outcomes = outcomes;
    for (const state of ['applied', 'not-selected', 'disabled', 'expired', 'invalid'] as const) this.options.metrics.faultPolicies.set({ state }, outcomes.filter((o) => o.state === state).length);
  }

  /** Whether the object selects this pod: its labels match, and for one/fixed/fixed-percent its name is among those chosen. */
  private async selects(object: FaultPolicyObject, selection: Selection, labels: Record<string, string>, cache: Map<string, Promise<Candidate[]>>): Promise<boolean> {
    if (!matchesSelector(selection.requirements, labels)) return false;
    if (selection.mode === 'all') return true;
    const query = selectorQuery((object.spec as { selector?: LabelSelector } | undefined)?.selector);
    if (!cache.has(query)) cache.set(query, this.options.listPods(query));
    const pods = await (cache.get(query) as Promise<Candidate[]>);
    // This pod is a candidate even before the list shows it (a cache behind, a pod just started).
    const all = pods.some((p) => p.name === this.options.pod.name) ? pods : [...pods, { name: this.options.pod.name, labels }];
    return choosePods(String(object.metadata.uid ?? object.metadata.name), selection, all).includes(this.options.pod.name);
  }

  /** Applies the selected objects' rules together; when they do not fit together, one at a time, leaving out those that fail. */
  private async apply(selected: { outcome: PolicyOutcome; rules: Record<string, unknown>[]; listeners: Record<string, unknown>[] }[]): Promise<void> {
    const owners = new Map<string, string>();
    const parts = selected.map((entry) => {
      const notes: string[] = [];
      const rules = entry.rules.filter((r) => {
        const owner = owners.get(String(r.name));
        if (owner === undefined) return owners.set(String(r.name), entry.outcome.name), true;
        notes.push(`rule ${String(r.name)} is also in FaultPolicy ${owner}, which wins (the first by name)`);
        return false;
      });
      if (notes.length) entry.outcome.notes = notes;
      return { entry, rules };
    });
    const overlay = (list: typeof parts): PolicyOverlay => ({ rules: list.flatMap((p) => p.rules), listeners: list.flatMap((p) => p.entry.listeners) });
    const key = JSON.stringify(overlay(parts));
    if (key === this.applied) return;
    const { layers, log } = this.options;
    try {
      await layers.exclusive(() => layers.set('faultpolicies', overlay(parts)));
      this.applied = key;
      log.info({ applied: parts.map((p) => p.entry.outcome.name) }, 'FaultPolicy objects applied');
      return;
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
    }
    const kept: typeof parts = [];
    for (const part of parts) {
      try {
        await layers.exclusive(() => layers.set('faultpolicies', overlay([...kept, part])));
        kept.push(part);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        part.entry.outcome.state = 'invalid';
        part.entry.outcome.error = clip(`does not fit with the policy in force: ${err.problems.map((p) => p.message).join('; ')}`);
        log.warn({ faultPolicy: part.entry.outcome.name, error: part.entry.outcome.error }, 'FaultPolicy not applied');
      }
    }
    this.applied = JSON.stringify(overlay(kept));
  }
}

const clip = (text: string) => (text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR - 1)}…` : text);
