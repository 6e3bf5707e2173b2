import type { V1Pod } from '@kubernetes/client-node';
import { TargetError } from '../errors.js';
import { statusOf } from '../kubernetes/client.js';
import { choosePods } from '../faultpolicy/selection.js';
import type { KubernetesTarget } from './targets/kubernetes.js';

/** How often readiness is asked while waiting. */
const POLL_MS = 100;

/** What a podKill or scale step did, in the report; `mttrMs` is the time to recover. */
export interface KubernetesRecord {
  step: string;
  action: 'podKill' | 'scale';
  target: string;
  /** ms since the run started, when the step acted. */
  t: number;
  /** podKill: the pods deleted. */
  pods?: string[];
  /** scale: the Deployment, its replicas before and during the step, and how long reaching them took. */
  deployment?: string;
  from?: number;
  to?: number;
  settleMs?: number | null;
  /** Ready pods before the step: what recovery means. */
  readyBefore: number;
  /** From the deletion (podKill) or the scale back (scale) until as many pods are ready as before; null: not within readyTimeout. */
  mttrMs: number | null;
  recovered: boolean;
  error?: string;
}

/** Whether a pod counts as ready: the Ready condition, and not being deleted. */
export function isReady(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * Polls until `ready()` holds; resolves with the ms it took, or null after `timeoutMs` or once
 * `stopped()` (a signal) says to give up.
 */
async function waitFor(ready: () => Promise<boolean>, timeoutMs: number, stopped: () => boolean): Promise<number | null> {
  const start = performance.now();
  for (;;) {
    if (await ready()) return Math.round(performance.now() - start);
    if (stopped() || performance.now() - start > timeoutMs) return null;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * podKill: deletes `count` of the pods the target's mode picks among the selector's ready pods
 * (with or without a sidecar), ranked with the step's name, then waits until as many of the selector's pods are ready as before (their controller
 * replaces them). MTTR is from the first deletion to that moment.
 */
export async function killPods(target: KubernetesTarget, step: string, count: number, timeoutMs: number, stopped: () => boolean, t: () => number): Promise<KubernetesRecord> {
  const pods = await target.pods();
  const ready = pods.filter(isReady);
  const chosen = new Set(target.pickAmong(ready));
  const candidates = ready.filter((p) => chosen.has(String(p.metadata?.name))).map((p) => ({ name: String(p.metadata?.name), labels: p.metadata?.labels ?? {} }));
  const victims = choosePods(`${step}/${target.name}`, { mode: 'fixed', value: count, requirements: [] }, candidates);
  if (victims.length === 0) throw new TargetError(target.name, `podKill: no ready pod selected in ${target.location}`);
  const record: KubernetesRecord = { step, action: 'podKill', target: target.name, t: t(), pods: victims, readyBefore: ready.length, mttrMs: null, recovered: false };
  const started = performance.now();
  for (const name of victims) await target.call(`delete pod ${name}`, (core) => core.deleteNamespacedPod({ name, namespace: target.namespace }));
  const gone = new Set(victims);
  const back = await waitFor(async () => (await target.pods()).filter((p) => isReady(p) && !gone.has(String(p.metadata?.name))).length >= ready.length, timeoutMs, stopped);
  record.recovered = back !== null;
  record.mttrMs = back === null ? null : Math.round(performance.now() - started);
  if (back === null) record.error = stopped() ? 'interrupted before the pods were back' : `fewer than ${ready.length} pods ready after ${timeoutMs} ms`;
  return record;
}

/** A Deployment's scale and readiness, through the `/scale` subresource. */
export class DeploymentScale {
  constructor(private readonly target: KubernetesTarget, readonly deployment: string) {}

  private get path(): string {
    return `/apis/apps/v1/namespaces/${encodeURIComponent(this.target.namespace)}/deployments/${encodeURIComponent(this.deployment)}`;
  }

  private async send(method: string, suffix: string, body?: unknown): Promise<{ status: number; text: string }> {
    try {
      return await this.target.kube.request(method, `${this.path}${suffix}`, { headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new TargetError(this.target.name, (err as Error).message, { cause: err });
    }
  }

  private async json(method: string, suffix: string, body?: unknown, answered?: { status: number; text: string }): Promise<any> {
    const answer = answered ?? (await this.send(method, suffix, body));
    if (answer.status !== 200) throw new TargetError(this.target.name, `${method} deployment ${this.target.namespace}/${this.deployment}${suffix}: ${answer.status} ${statusOf(answer.text)?.message ?? ''}`);
    return JSON.parse(answer.text);
  }

  /** spec.replicas now. */
  async replicas(): Promise<number> {
    return Number((await this.json('GET', '/scale')).spec?.replicas ?? 0);
  }

  /**
   * Sets spec.replicas: read-modify-write of the Scale with its resourceVersion, read again when
   * the Deployment changed meanwhile (its controller writes its status all the time: a 409).
   */
  async set(replicas: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const scale = await this.json('GET', '/scale');
      const answer = await this.send('PUT', '/scale', { ...scale, spec: { ...scale.spec, replicas } });
      if (answer.status === 409 && attempt < 5) continue;
      await this.json('PUT', '/scale', undefined, answer);
      return;
    }
  }

  /** Whether the Deployment's controller saw the change and exactly `replicas` pods exist and are ready (as `kubectl rollout status` reads it). */
  async settled(replicas: number): Promise<boolean> {
    const deployment = await this.json('GET', '');
    const status = deployment.status ?? {};
    const seen = Number(status.observedGeneration ?? 0) >= Number(deployment.metadata?.generation ?? 0);
    return seen && Number(status.replicas ?? 0) === replicas && Number(status.readyReplicas ?? 0) === replicas;
  }

  /** Waits until `replicas` are ready; ms it took, or null. */
  wait(replicas: number, timeoutMs: number, stopped: () => boolean): Promise<number | null> {
    return waitFor(() => this.settled(replicas), timeoutMs, stopped);
  }
}
