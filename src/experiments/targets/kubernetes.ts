import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { KubeApiError, TargetError } from '../../errors.js';
import { expectStatus, PodProxyEndpoint } from '../../fleet/endpoint.js';
import { fanOut } from '../../fleet/fanout.js';
import { podState } from '../../fleet/pods.js';
import { readCredential } from '../../fleet/session.js';
import { choosePods } from '../../faultpolicy/selection.js';
import { selectorQuery, selectorRequirements } from '../../faultpolicy/resource.js';
import { Kube } from '../../kubernetes/client.js';
import type { KubernetesTargetSpec } from '../schema.js';
import type { Target } from './index.js';

/** Each pod's admin call gives up after this long. */
const CALL_TIMEOUT_MS = 5000;

/**
 * Pods of a namespace, picked by a label selector and a mode as a FaultPolicy picks them (the
 * same ranking, seeded with the experiment and target names): the experiment's rules go to each
 * chosen pod's sidecar (`POST /rules`, each with `expiresAt`) through the API server's pod proxy,
 * with the namespace's `rules` credential read from its Secret with the user's kubeconfig. The
 * pods are chosen at the first apply and kept for the run; removal and the rollback's check
 * cover every pod the selector matches, so rules a dead runner left anywhere are found too.
 */
export class KubernetesTarget implements Target {
  readonly location: string;
  readonly namespace: string;
  private endpoint: PodProxyEndpoint | undefined;
  private chosen: string[] | undefined;
  /** Pods that got rules in this run. */
  private readonly touched = new Set<string>();

  private constructor(readonly name: string, readonly kube: Kube, private readonly spec: KubernetesTargetSpec, private readonly seed: string) {
    this.namespace = kube.namespace;
    this.location = `pods ${this.namespace}${this.selector ? ` -l ${this.selector}` : ''} (${spec.mode}${spec.value !== undefined ? ` ${spec.value}` : ''})`;
  }

  static async create(name: string, spec: KubernetesTargetSpec, experiment: string): Promise<KubernetesTarget> {
    let kube: Kube;
    try {
      kube = await Kube.load({ kubeconfig: spec.kubeconfig, context: spec.context, namespace: spec.namespace });
    } catch (err) {
      throw new TargetError(name, (err as Error).message, { cause: err });
    }
    return new KubernetesTarget(name, kube, spec, `${experiment}/${name}`);
  }

  get cluster(): KubernetesTarget {
    return this;
  }

  /** The label selector, as a list query. */
  get selector(): string {
    return selectorQuery(this.spec.selector);
  }

  /** The pods the selector matches now, in name order. */
  async pods(): Promise<V1Pod[]> {
    const list = await this.call('list pods', (core) => core.listNamespacedPod({ namespace: this.namespace, ...(this.selector ? { labelSelector: this.selector } : {}) }));
    return [...list.items].sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
  }

  /** The pods the mode picks among those whose sidecar can be contacted now. */
  async pick(): Promise<string[]> {
    return this.pickAmong((await this.pods()).filter((p) => podState(p).contact));
  }

  /** The names the mode picks among `pods` (the FaultPolicy ranking, seeded with the experiment and target names). */
  pickAmong(pods: readonly V1Pod[]): string[] {
    const candidates = pods.map((p) => ({ name: String(p.metadata?.name), labels: p.metadata?.labels ?? {} }));
    return choosePods(this.seed, { mode: this.spec.mode, value: this.spec.value ?? 0, requirements: selectorRequirements(this.spec.selector) }, candidates);
  }

  async apply(rules: Record<string, unknown>[], expiresAt: Date): Promise<void> {
    this.chosen ??= await this.pick();
    if (this.chosen.length === 0) throw new TargetError(this.name, `${this.location}: no pod with a ready faultline sidecar is selected`);
    const endpoint = await this.admin();
    for (const pod of this.chosen) this.touched.add(pod);
    await this.each(this.chosen, async (pod) => {
      for (const rule of rules) expectStatus(await endpoint.call(pod, 'POST', '/rules', { ...rule, expiresAt: expiresAt.toISOString() }), [200, 201], 'POST /rules');
    });
  }

  async remove(names: string[]): Promise<void> {
    const pods = [...new Set([...this.touched, ...(await this.contactable())])];
    if (pods.length === 0) return;
    const endpoint = await this.admin();
    await this.each(pods, async (pod) => {
      for (const name of names) expectStatus(await endpoint.call(pod, 'DELETE', `/rules/${encodeURIComponent(name)}`), [204, 404], 'DELETE /rules');
    });
  }

  async list(prefix: string): Promise<string[]> {
    const pods = [...new Set([...this.touched, ...(await this.contactable())])];
    // No sidecar to ask (a podKill-only experiment on pods without one): nothing to list, no credential needed.
    if (pods.length === 0) return [];
    const endpoint = await this.admin();
    const found = new Set<string>();
    await this.each(pods, async (pod) => {
      const body = expectStatus(await endpoint.call(pod, 'GET', '/rules'), [200], 'GET /rules') as { rules?: { name?: unknown }[] };
      for (const rule of body.rules ?? []) if (String(rule.name).startsWith(prefix)) found.add(String(rule.name));
    });
    return [...found].sort();
  }

  /** A typed API call, its failure a TargetError in one line. */
  async call<T>(what: string, run: (core: CoreV1Api) => Promise<T>): Promise<T> {
    try {
      return await this.kube.call(`${what} in ${this.namespace}`, run);
    } catch (err) {
      throw new TargetError(this.name, (err as Error).message, { cause: err });
    }
  }

  /** Pods the selector matches whose sidecar can be contacted (a pod whose sidecar died was never applied to since). */
  private async contactable(): Promise<string[]> {
    return (await this.pods()).filter((p) => podState(p).contact).map((p) => String(p.metadata?.name));
  }

  /** The pod-proxy endpoint with the namespace's `rules` credential (read once). */
  private async admin(): Promise<PodProxyEndpoint> {
    if (this.endpoint) return this.endpoint;
    try {
      this.endpoint = new PodProxyEndpoint(this.kube, this.namespace, await readCredential(this.kube, this.namespace, 'rules'), CALL_TIMEOUT_MS);
    } catch (err) {
      throw new TargetError(this.name, err instanceof KubeApiError ? err.message : (err as Error).message, { cause: err });
    }
    return this.endpoint;
  }

  /** Runs `call` on every pod in parallel; any failure is one TargetError naming each pod that failed. */
  private async each(pods: string[], call: (pod: string) => Promise<void>): Promise<void> {
    const results = await fanOut(pods, call, { concurrency: 16 });
    const failed = results.filter((r) => r.result !== 'ok');
    if (failed.length > 0) throw new TargetError(this.name, failed.map((r) => `${r.target}: ${r.reason}`).join('; '));
  }
}
