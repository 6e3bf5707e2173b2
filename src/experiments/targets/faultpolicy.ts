import { TargetError } from '../../errors.js';
import { collectionPath, RESOURCE } from '../../faultpolicy/resource.js';
import { statusOf } from '../../kubernetes/client.js';
import type { KubernetesTarget } from './kubernetes.js';
import type { Target } from './index.js';

/**
 * The experiment's rules as one FaultPolicy object (`exp-EXPERIMENT-TARGET`) in the target's
 * namespace, with its selector, mode and value, and `expiresAt` (so its faults end by
 * themselves if the runner dies); every selected pod applies it within a second. Removing the
 * last rule deletes the object; the rollback's check reads it back.
 */
export class FaultPolicyTarget implements Target {
  readonly location: string;
  private readonly objectName: string;

  constructor(private readonly pods: KubernetesTarget, experiment: string, private readonly selection: Record<string, unknown>) {
    this.objectName = `exp-${experiment}-${pods.name}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');
    this.location = `faultpolicy ${pods.namespace}/${this.objectName}`;
  }

  get name(): string {
    return this.pods.name;
  }

  get cluster(): KubernetesTarget {
    return this.pods;
  }

  async apply(rules: Record<string, unknown>[], expiresAt: Date): Promise<void> {
    const current = await this.read();
    const names = new Set(rules.map((r) => String(r.name)));
    const kept = ((current?.spec?.rules as Record<string, unknown>[] | undefined) ?? []).filter((r) => !names.has(String(r.name)));
    const spec = { ...this.selection, expiresAt: expiresAt.toISOString(), rules: [...kept, ...rules] };
    if (current) await this.send('PUT', `/${this.objectName}`, { ...current, spec }, [200]);
    else await this.send('POST', '', { apiVersion: RESOURCE.split('/').slice(0, 2).join('/'), kind: 'FaultPolicy', metadata: { name: this.objectName, labels: { 'app.kubernetes.io/managed-by': 'faultline-run' } }, spec }, [201]);
  }

  async remove(names: string[]): Promise<void> {
    const current = await this.read();
    if (!current) return;
    const drop = new Set(names);
    const rules = ((current.spec?.rules as Record<string, unknown>[] | undefined) ?? []).filter((r) => !drop.has(String(r.name)));
    if (rules.length === 0) await this.send('DELETE', `/${this.objectName}`, undefined, [200, 202, 404]);
    else await this.send('PUT', `/${this.objectName}`, { ...current, spec: { ...current.spec, rules } }, [200]);
  }

  async list(prefix: string): Promise<string[]> {
    const current = await this.read();
    return ((current?.spec?.rules as { name?: unknown }[] | undefined) ?? []).map((r) => String(r.name)).filter((n) => n.startsWith(prefix));
  }

  private async read(): Promise<{ metadata: Record<string, unknown>; spec?: Record<string, unknown> } | undefined> {
    const answer = await this.send('GET', `/${this.objectName}`, undefined, [200, 404]);
    return answer.status === 404 ? undefined : (JSON.parse(answer.text) as { metadata: Record<string, unknown>; spec?: Record<string, unknown> });
  }

  private async send(method: string, suffix: string, body: unknown, expected: number[]): Promise<{ status: number; text: string }> {
    const path = `${collectionPath(this.pods.namespace)}${suffix}`;
    let answer;
    try {
      answer = await this.pods.kube.request(method, path, { headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new TargetError(this.name, (err as Error).message, { cause: err });
    }
    if (!expected.includes(answer.status)) throw new TargetError(this.name, `${method} ${this.location}: ${answer.status} ${statusOf(answer.text)?.message ?? answer.text.slice(0, 300)}`);
    return answer;
  }
}
