import { request } from 'undici';
import { CoalescedPass } from '../serial-queue.js';
import { METRICS_PORT } from '../kubernetes/builders.js';
import type { Logger } from '../log.js';
import type { ApiClient } from './api.js';
import type { PolicyOutcome } from './layer.js';
import { checkFaultPolicy, collectionPath, PLURAL, GROUP, VERSION, type FaultPolicyObject } from './resource.js';
import { choosePods, type Candidate } from './selection.js';
import { candidatesOf, type ListedPod } from './source.js';
import { CollectionWatch } from './watcher.js';

/** Status is recomputed this often even without a FaultPolicy event (pods apply, come and go). */
export const RESYNC_MS = 5000;
/** A pod's `/faultpolicies` must answer within this. */
const POD_TIMEOUT_MS = 2000;
/** At most this many pods asked at once. */
const CONCURRENCY = 16;

/** A pod the controller reads: its name, labels, and where its metrics port answers. */
interface PodRef extends Candidate {
  ip: string | undefined;
}

/** One selected pod in a FaultPolicy's status. */
export interface PodStatus {
  name: string;
  hash?: string;
  generation?: number;
  error?: string;
}

export interface ControllerOptions {
  api: ApiClient;
  log: Logger;
  /** Where a pod's metrics port is (default `http://POD_IP:15020`); tests map pods to loopback. */
  podUrl?: (pod: { name: string; namespace: string; ip: string | undefined }) => string | undefined;
  resyncMs?: number;
  now?: () => Date;
}

/**
 * The FaultPolicy controller (`faultline controller`, in the control plane): keeps every
 * FaultPolicy's status up to date. It checks each object as the sidecars do, computes the
 * selected pods with the same code (their names ranked against the object's uid), reads from
 * each selected pod's metrics port (`/faultpolicies`, no API permission) which generation it
 * applied with what hash or error, and writes `selectedPods`, `appliedPods`,
 * `observedGeneration`, `pods` and the conditions Valid and Applied with a merge patch of the
 * status subresource, only when they changed. No sidecar ever writes to the object.
 */
export class FaultPolicyController {
  private watch: CollectionWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private objects: FaultPolicyObject[] = [];
  private readonly passes = new CoalescedPass(
    () => this.pass().catch((err: Error) => this.options.log.error({ cause: err.message }, 'FaultPolicy status not updated')),
    () => !this.stopped,
  );
  private readonly written = new Map<string, string>();
  private stopped = false;

  constructor(private readonly options: ControllerOptions) {}

  start(): void {
    this.watch = new CollectionWatch({
      api: this.options.api,
      path: collectionPath(),
      onChange: (items) => {
        this.objects = [...items.values()] as FaultPolicyObject[];
        void this.reconcile();
      },
      onState: (state, error) => (state === 'stale' ? this.options.log.warn({ cause: error }, 'FaultPolicy watch: the API server cannot be reached') : this.options.log.info('FaultPolicy watch: in sync')),
    });
    this.watch.start();
    this.timer = setInterval(() => void this.reconcile(), this.options.resyncMs ?? RESYNC_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.watch?.stop();
  }

  /** Recomputes and writes every status (one pass at a time; a request during one runs after it). */
  reconcile(): Promise<void> {
    return this.passes.request();
  }

  private async pass(): Promise<void> {
    const byNamespace = new Map<string, FaultPolicyObject[]>();
    for (const object of this.objects) {
      const ns = String(object.metadata.namespace);
      byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), object]);
    }
    for (const [namespace, objects] of byNamespace) {
      const pods = await this.pods(namespace);
      const reports = new Map<string, Promise<PolicyOutcome[] | string>>();
      const report = (pod: PodRef) => {
        if (!reports.has(pod.name)) reports.set(pod.name, this.readPod(namespace, pod));
        return reports.get(pod.name) as Promise<PolicyOutcome[] | string>;
      };
      for (const object of objects) {
        if (this.stopped) return;
        await this.write(object, await this.status(object, pods, report));
      }
    }
    const live = new Set(this.objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
    for (const key of this.written.keys()) if (!live.has(key)) this.written.delete(key);
  }

  /** The status of one object, from the pods it selects. */
  private async status(object: FaultPolicyObject, pods: PodRef[], report: (pod: PodRef) => Promise<PolicyOutcome[] | string>): Promise<Record<string, unknown>> {
    const generation = Number(object.metadata.generation ?? 1);
    const checked = checkFaultPolicy(object, { kernelFaults: true, knownListeners: listenerNamesOf(object) });
    const condition = (type: string, ok: boolean, reason: string, message: string) => ({ type, status: ok ? 'True' : 'False', observedGeneration: generation, reason, message });
    if (!checked.ok) {
      const message = checked.problems.join('; ').slice(0, 1000);
      return { observedGeneration: generation, selectedPods: 0, appliedPods: 0, pods: [], conditions: [condition('Valid', false, 'InvalidSpec', message), condition('Applied', false, 'InvalidSpec', 'an invalid FaultPolicy is never applied')] };
    }
    const chosen = new Set(choosePods(String(object.metadata.uid ?? object.metadata.name), checked.selection, pods));
    const selected = pods.filter((p) => chosen.has(p.name));
    const entries: PodStatus[] = [];
    for (let i = 0; i < selected.length; i += CONCURRENCY) {
      entries.push(...(await Promise.all(selected.slice(i, i + CONCURRENCY).map(async (pod) => podStatus(object, pod, await report(pod))))));
    }
    const applied = entries.filter((e) => e.error === undefined && e.generation === generation).length;
    const message = `${applied} of ${selected.length} selected pods applied generation ${generation}`;
    return {
      observedGeneration: generation,
      selectedPods: selected.length,
      appliedPods: applied,
      pods: entries,
      conditions: [condition('Valid', true, 'Valid', 'the spec is valid'), condition('Applied', applied === selected.length, applied === selected.length ? 'AllApplied' : 'Pending', message)],
    };
  }

  /** Writes the status when it changed (merge patch of the status subresource); lastTransitionTime moves only when a condition's status does. */
  private async write(object: FaultPolicyObject, status: Record<string, unknown>): Promise<void> {
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const previous = (object.status?.conditions as { type: string; status: string; lastTransitionTime?: string }[] | undefined) ?? [];
    const now = (this.options.now ?? (() => new Date()))().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditions = (status.conditions as { type: string; status: string }[]).map((c) => {
      const before = previous.find((p) => p.type === c.type);
      return { ...c, lastTransitionTime: before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now };
    });
    const next = { ...status, conditions };
    const text = JSON.stringify(next);
    const same = JSON.stringify({ ...object.status, conditions: previous }) === text;
    if (same || this.written.get(key) === text) return;
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(String(object.metadata.namespace))}/${PLURAL}/${encodeURIComponent(object.metadata.name)}/status`;
    try {
      await this.options.api.json('PATCH', path, { body: { status: next }, contentType: 'application/merge-patch+json' });
      this.written.set(key, text);
    } catch (err) {
      this.options.log.warn({ faultPolicy: key, cause: (err as Error).message }, 'FaultPolicy status not written');
    }
  }

  /** The namespace's injected pods, with their IPs (for their metrics port). */
  private async pods(namespace: string): Promise<PodRef[]> {
    const list = await this.options.api.json<{ items?: (ListedPod & { status?: { podIP?: string } })[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`);
    const ips = new Map((list.items ?? []).map((p) => [p.metadata?.name, p.status?.podIP]));
    // The same candidates as the sidecars take, from the full list.
    return candidatesOf(list.items ?? []).map((c) => ({ ...c, ip: ips.get(c.name) }));
  }

  /** A pod's `/faultpolicies`, or why it could not be read. */
  private async readPod(namespace: string, pod: PodRef): Promise<PolicyOutcome[] | string> {
    const url = this.options.podUrl ? this.options.podUrl({ name: pod.name, namespace, ip: pod.ip }) : pod.ip ? `http://${pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip}:${METRICS_PORT}` : undefined;
    if (!url) return 'no pod IP yet';
    try {
      const res = await request(`${url}/faultpolicies`, { headersTimeout: POD_TIMEOUT_MS, bodyTimeout: POD_TIMEOUT_MS });
      if (res.statusCode === 404) {
        await res.body.dump();
        return 'its sidecar does not watch FaultPolicy objects (an older image, or injected without --faultpolicies)';
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        return `its metrics port answered ${res.statusCode}`;
      }
      return ((await res.body.json()) as { policies?: PolicyOutcome[] }).policies ?? [];
    } catch (err) {
      return `cannot reach its metrics port: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
}

/** What one selected pod says about one object. */
function podStatus(object: FaultPolicyObject, pod: PodRef, report: PolicyOutcome[] | string): PodStatus {
  if (typeof report === 'string') return { name: pod.name, error: report };
  const outcome = report.find((o) => o.uid === object.metadata.uid) ?? report.find((o) => o.name === object.metadata.name && !o.uid);
  if (!outcome) return { name: pod.name, error: 'its sidecar has not seen this object yet' };
  const base = { name: pod.name, ...(outcome.hash ? { hash: outcome.hash } : {}), generation: outcome.generation };
  if (outcome.state === 'applied' || outcome.state === 'disabled' || outcome.state === 'expired') return base;
  if (outcome.state === 'invalid') return { ...base, error: outcome.error ?? 'invalid' };
  return { ...base, error: 'its sidecar does not count itself selected (its labels or the pod list differ)' };
}

/** Listener names the object's own rules may use beyond its own: unknown here (the pods' files), so those it names are taken as known. */
function listenerNamesOf(object: FaultPolicyObject): string[] {
  const rules = (object.spec?.rules as { match?: { listener?: unknown } }[] | undefined) ?? [];
  return rules.map((r) => r?.match?.listener).filter((l): l is string => typeof l === 'string');
}
