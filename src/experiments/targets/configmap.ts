import { homedir } from 'node:os';
import { ApiException, CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { PolicyError, TargetError } from '../../errors.js';
import { compilePolicy } from '../../policy/compile.js';
import type { TargetSpec } from '../schema.js';
import type { Target } from './index.js';

/** Read-modify-write attempts when someone else changed the ConfigMap meanwhile (409 Conflict). */
const MAX_ATTEMPTS = 5;

type ConfigMapSpec = NonNullable<TargetSpec['configMap']>;

/**
 * The policy ConfigMap the sidecars of a namespace mount (`faultline.dev/policy`), changed
 * through the Kubernetes API: read, edit `spec.rules` in the policy YAML (comments and the
 * user's rules kept), validate the result, replace with the resourceVersion read (optimistic
 * concurrency; a 409 is read again and retried). The kubelet then delivers it to every pod, which
 * takes up to its sync period (about a minute by default). The experiment's rules carry
 * `expiresAt`, so they stop applying even if the runner dies before removing them.
 */
export class ConfigMapTarget implements Target {
  readonly location: string;
  private readonly api: CoreV1Api;
  private readonly namespace: string;

  constructor(readonly name: string, private readonly spec: ConfigMapSpec) {
    const config = new KubeConfig();
    try {
      if (spec.kubeconfig) config.loadFromFile(spec.kubeconfig.replace(/^~(?=\/|$)/, homedir()));
      else config.loadFromDefault();
      if (spec.context) config.setCurrentContext(spec.context);
      this.api = config.makeApiClient(CoreV1Api);
    } catch (err) {
      throw new TargetError(name, `cannot load the kubeconfig: ${(err as Error).message}`, { cause: err });
    }
    this.namespace = spec.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
    this.location = `configmap ${this.namespace}/${spec.name} (${spec.key})`;
  }

  async apply(rules: Record<string, unknown>[], expiresAt: Date): Promise<void> {
    const names = new Set(rules.map((r) => String(r.name)));
    await this.update((doc) => {
      const seq = rulesOf(doc);
      seq.items = seq.items.filter((item) => !names.has(String(isMap(item) ? item.get('name') : '')));
      for (const rule of rules) seq.items.push(doc.createNode({ ...rule, expiresAt: expiresAt.toISOString() }));
    });
  }

  async remove(names: string[]): Promise<void> {
    const drop = new Set(names);
    await this.update((doc) => {
      const seq = rulesOf(doc);
      seq.items = seq.items.filter((item) => !drop.has(String(isMap(item) ? item.get('name') : '')));
    });
  }

  async list(prefix: string): Promise<string[]> {
    const { doc } = await this.read();
    return rulesOf(doc).items.map((item) => String(isMap(item) ? item.get('name') : '')).filter((n) => n.startsWith(prefix));
  }

  private async read(): Promise<{ configMap: V1ConfigMap; doc: Document }> {
    let configMap: V1ConfigMap;
    try {
      configMap = await this.api.readNamespacedConfigMap({ name: this.spec.name, namespace: this.namespace });
    } catch (err) {
      throw this.failure('read', err);
    }
    const text = configMap.data?.[this.spec.key];
    if (text === undefined) throw new TargetError(this.name, `${this.location}: no key "${this.spec.key}" in the ConfigMap`);
    return { configMap, doc: parseDocument(text) };
  }

  /** Read, edit, validate, replace; again from the read when the ConfigMap changed meanwhile. */
  private async update(edit: (doc: Document) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { configMap, doc } = await this.read();
      edit(doc);
      const text = doc.toString({ flowCollectionPadding: false });
      if (text === configMap.data?.[this.spec.key]) return; // nothing to change: no write
      try {
        compilePolicy(text, this.location);
      } catch (err) {
        if (err instanceof PolicyError) throw new TargetError(this.name, `the policy would not be valid, nothing written:\n${err.lines().join('\n')}`);
        throw err;
      }
      const body: V1ConfigMap = { ...configMap, data: { ...configMap.data, [this.spec.key]: text } };
      try {
        await this.api.replaceNamespacedConfigMap({ name: this.spec.name, namespace: this.namespace, body });
        return;
      } catch (err) {
        if (err instanceof ApiException && err.code === 409 && attempt < MAX_ATTEMPTS) continue;
        throw this.failure('replace', err);
      }
    }
  }

  private failure(what: string, err: unknown): TargetError {
    if (err instanceof ApiException) {
      let message = String(err.body);
      try {
        message = String((JSON.parse(String(err.body)) as { message?: unknown }).message ?? message);
      } catch {
        // not a Status object: the body as it came
      }
      return new TargetError(this.name, `${what} ${this.location}: ${err.code} ${message.slice(0, 500)}`, { cause: err });
    }
    return new TargetError(this.name, `${what} ${this.location}: ${(err as Error).message}`, { cause: err });
  }
}

/** The policy's `spec.rules` sequence, created when missing. */
function rulesOf(doc: Document): { items: unknown[] } {
  let seq = doc.getIn(['spec', 'rules'], true);
  if (!isSeq(seq)) {
    doc.setIn(['spec', 'rules'], doc.createNode([]));
    seq = doc.getIn(['spec', 'rules'], true);
  }
  return seq as { items: unknown[] };
}
