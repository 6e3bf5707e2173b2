import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ADMIN_VERBS, credentialSecretName, type AdminVerb } from '../admin/verbs.js';
import { KubeApiError } from '../errors.js';
import { apiError, statusOf, type Kube } from './client.js';
import { sidecarRoleBinding } from './rbac.js';
import type { KubeObject } from './inject.js';

/** Labels of every credential Secret: `kubectl delete secret -l app.kubernetes.io/managed-by=faultline` finds them. */
export const CREDENTIAL_LABELS = { 'app.kubernetes.io/managed-by': 'faultline' } as const;
export const VERB_LABEL = 'faultline.dev/admin-verb';

/** A fresh credential: 32 random bytes, hex. */
export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/** The Secret holding a namespace's credential for `verb` (type Opaque, key `token`). */
export function credentialSecret(namespace: string, verb: AdminVerb, token = newToken()): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: credentialSecretName(verb), namespace, labels: { ...CREDENTIAL_LABELS, [VERB_LABEL]: verb } },
    type: 'Opaque',
    data: { token: Buffer.from(token).toString('base64') },
  };
}

/** The three Secrets of a namespace, each with a fresh token. */
export function credentialSecrets(namespace: string): KubeObject[] {
  return ADMIN_VERBS.map((verb) => credentialSecret(namespace, verb));
}

/** What happened to one Secret. */
export interface SecretOutcome {
  verb: AdminVerb;
  name: string;
  result: 'created' | 'kept' | 'rotated';
}

/** Creates the Secrets that do not exist; existing ones are kept (409 AlreadyExists is success). */
export async function createCredentials(kube: Kube, namespace: string): Promise<SecretOutcome[]> {
  const outcomes: SecretOutcome[] = [];
  for (const verb of ADMIN_VERBS) {
    const body = credentialSecret(namespace, verb);
    const name = credentialSecretName(verb);
    try {
      await kube.call(`create secret ${namespace}/${name}`, (core) => core.createNamespacedSecret({ namespace, body: body as never }));
      outcomes.push({ verb, name, result: 'created' });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) outcomes.push({ verb, name, result: 'kept' });
      else throw err;
    }
  }
  return outcomes;
}

/**
 * Gives every Secret a fresh token: replaced with the resourceVersion read (a concurrent change
 * is a 409 and stops the rotation there), created when missing. Sidecars take the new tokens
 * once the kubelet updates their volume (about a minute); until then the old ones hold there.
 */
export async function rotateCredentials(kube: Kube, namespace: string): Promise<SecretOutcome[]> {
  const outcomes: SecretOutcome[] = [];
  for (const verb of ADMIN_VERBS) {
    const name = credentialSecretName(verb);
    let current: { metadata?: { resourceVersion?: string } } | undefined;
    try {
      current = await kube.call(`get secret ${namespace}/${name}`, (core) => core.readNamespacedSecret({ name, namespace }));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    const body = credentialSecret(namespace, verb);
    if (current === undefined) {
      await kube.call(`create secret ${namespace}/${name}`, (core) => core.createNamespacedSecret({ namespace, body: body as never }));
      outcomes.push({ verb, name, result: 'created' });
      continue;
    }
    const replaced = { ...body, metadata: { ...(body.metadata as object), resourceVersion: current.metadata?.resourceVersion } };
    await kube.call(`replace secret ${namespace}/${name}`, (core) => core.replaceNamespacedSecret({ name, namespace, body: replaced as never }));
    outcomes.push({ verb, name, result: 'rotated' });
  }
  return outcomes;
}

/** Binds `serviceAccount` to faultline-sidecar in `namespace`; true when created, false when it was there (409). */
export async function createSidecarBinding(kube: Kube, namespace: string, serviceAccount: string): Promise<boolean> {
  const path = `/apis/rbac.authorization.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/rolebindings`;
  const answer = await kube.request('POST', path, { headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(sidecarRoleBinding(namespace, serviceAccount)) });
  if (answer.status === 201 || answer.status === 200) return true;
  if (answer.status === 409) return false;
  throw apiError(answer.status, statusOf(answer.text), `create rolebinding ${namespace}/faultline-sidecar-${serviceAccount}`, kube.server);
}

/** How long the webhook remembers that a namespace has its Secrets (so a deleted one comes back). */
export const PROVISIONED_TTL_MS = 10 * 60_000;

/**
 * The webhook's part: when it injects a pod into a namespace, that namespace gets its three
 * Secrets if they are missing. Remembered per namespace for PROVISIONED_TTL_MS; concurrent
 * admissions share one attempt. A failure is logged and never blocks the pod: its volume is
 * optional, and its sidecar refuses what needs a missing credential until it appears.
 */
export class CredentialProvisioner {
  private readonly done = new Map<string, number>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly kube: () => Promise<Kube>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Makes sure `namespace` has its Secrets, and that `serviceAccount` (the pod's) is bound to
   * faultline-sidecar there (to follow FaultPolicy objects); resolves when done or failed
   * (never rejects).
   */
  ensure(namespace: string, serviceAccount = 'default'): Promise<void> {
    const key = `${namespace}/${serviceAccount}`;
    const at = this.done.get(key);
    if (at !== undefined && this.now() - at < PROVISIONED_TTL_MS) return Promise.resolve();
    const running = this.pending.get(key);
    if (running) return running;
    const attempt = (async () => {
      try {
        const kube = await this.kube();
        const outcomes = await createCredentials(kube, namespace);
        const bound = await createSidecarBinding(kube, namespace, serviceAccount);
        this.done.set(key, this.now());
        const created = outcomes.filter((o) => o.result === 'created').map((o) => o.name);
        if (created.length > 0) this.log.info({ namespace, created }, 'admin credential Secrets created');
        if (bound) this.log.info({ namespace, serviceAccount }, 'ServiceAccount bound to faultline-sidecar (FaultPolicy objects)');
      } catch (err) {
        this.log.warn({ namespace, serviceAccount, err: (err as Error).message }, 'admin credential Secrets or the sidecar RoleBinding not created (the pod starts anyway; its sidecar refuses admin calls, or cannot read FaultPolicy objects, until they exist)');
      } finally {
        this.pending.delete(key);
      }
    })();
    this.pending.set(key, attempt);
    return attempt;
  }
}
