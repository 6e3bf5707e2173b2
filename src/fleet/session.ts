import { credentialSecretName, type AdminVerb } from '../admin/verbs.js';
import { FleetError, KubeApiError, UsageError } from '../errors.js';
import { Kube, type KubeOptions } from '../kubernetes/client.js';
import { PodProxyEndpoint, UrlEndpoint, type AdminEndpoint } from './endpoint.js';
import type { TargetResult } from './fanout.js';
import { podState } from './pods.js';
import { parseSelector } from './selector.js';

/** The flags every fleet command takes. */
export interface FleetFlags extends KubeOptions {
  selector?: string | undefined;
  admin?: string | undefined;
  tokenFile?: string | undefined;
  /** Per-call timeout, ms. */
  timeoutMs: number;
}

/** Who a fleet command talks to, and how. */
export interface Fleet {
  namespace: string | undefined;
  selector: string | undefined;
  admin: string | undefined;
  endpoint: AdminEndpoint;
  /** Pods (or the one URL) to contact, in name order. */
  targets: string[];
  /** Pods reported without being contacted (no sidecar, not ready...). */
  reported: TargetResult<never>[];
}

/** Checks the flags that need no cluster: selector syntax, --admin against the pod flags. */
export function checkFleetFlags(flags: FleetFlags, pods: string[] = []): void {
  if (flags.selector !== undefined) parseSelector(flags.selector);
  if (flags.admin !== undefined) {
    const given = [flags.selector !== undefined && '-l', flags.namespace !== undefined && '-n', pods.length > 0 && 'POD', flags.kubeconfig !== undefined && '--kubeconfig', flags.context !== undefined && '--context'].filter(Boolean);
    if (given.length > 0) throw new UsageError(`--admin URL talks to one sidecar: drop ${given.join(', ')}`);
    let url: URL;
    try {
      url = new URL(flags.admin);
    } catch {
      throw new UsageError(`--admin: "${flags.admin}" is not a URL (e.g. http://127.0.0.1:15000)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--admin: "${flags.admin}" must be an http or https URL`);
  } else if (flags.tokenFile !== undefined) {
    throw new UsageError('--token-file goes with --admin URL; through the API server the credential comes from the namespace\'s Secret');
  }
  if (pods.length > 0 && flags.selector !== undefined) throw new UsageError('give -l SELECTOR or POD names, not both');
}

/** The credential for --admin: --token-file, else FAULTLINE_ADMIN_TOKEN, else none. */
async function localToken(flags: FleetFlags): Promise<string | undefined> {
  if (flags.tokenFile === undefined) return process.env.FAULTLINE_ADMIN_TOKEN?.trim() || undefined;
  const { readFile } = await import('node:fs/promises');
  try {
    const token = (await readFile(flags.tokenFile, 'utf8')).trim();
    if (!token) throw new UsageError(`--token-file: ${flags.tokenFile} is empty`);
    return token;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--token-file: cannot read ${flags.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The namespace's credential for `verb`, read once per command (or experiment target) with the user's kubeconfig. */
export async function readCredential(kube: Kube, namespace: string, verb: AdminVerb): Promise<string> {
  const name = credentialSecretName(verb);
  let secret;
  try {
    secret = await kube.call(`get secret ${namespace}/${name}`, (core) => core.readNamespacedSecret({ name, namespace }));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) {
      throw new FleetError(`namespace ${namespace} has no Secret ${name}: the webhook creates it when it injects a pod there; or run \`faultline credentials create -n ${namespace}\``);
    }
    throw err;
  }
  const token = secret.data?.token ? Buffer.from(secret.data.token, 'base64').toString('utf8').trim() : '';
  if (!token) throw new FleetError(`Secret ${namespace}/${name} has no key "token"; recreate it with \`faultline credentials rotate -n ${namespace}\``);
  return token;
}

/**
 * Resolves who to talk to. Through the API server: the namespace must exist, the credential
 * Secret for `verb` is read (nothing is contacted if that is refused), then the pods are listed
 * with the selector (or read by name) and sorted into those to contact and those reported as they
 * are. With --admin: the one URL.
 */
export async function openFleet(flags: FleetFlags, verb: AdminVerb, pods: string[] = []): Promise<Fleet> {
  if (flags.admin !== undefined) {
    return { namespace: undefined, selector: undefined, admin: flags.admin, endpoint: new UrlEndpoint(await localToken(flags), flags.timeoutMs), targets: [flags.admin], reported: [] };
  }
  const kube = await Kube.load(flags);
  const namespace = kube.namespace;
  try {
    await kube.call(`get namespace ${namespace}`, (core) => core.readNamespace({ name: namespace }));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) throw new FleetError(`namespace "${namespace}" does not exist`);
    // Allowed to read its pods but not the namespace object: the calls below will say what they may not do.
    if (!(err instanceof KubeApiError && err.status === 403)) throw err;
  }
  const token = await readCredential(kube, namespace, verb);
  const found = pods.length > 0 ? await readPods(kube, namespace, pods) : await listPods(kube, namespace, flags.selector);
  const targets: string[] = [];
  const reported: TargetResult<never>[] = [];
  for (const entry of found) {
    if ('missing' in entry) {
      reported.push({ target: entry.missing, result: 'failed', reason: 'no such pod' });
      continue;
    }
    const name = entry.metadata?.name as string;
    const state = podState(entry);
    if (state.contact) targets.push(name);
    else reported.push({ target: name, result: pods.includes(name) && state.result === 'skipped' ? 'failed' : state.result, reason: state.reason });
  }
  return { namespace, selector: flags.selector, admin: undefined, endpoint: new PodProxyEndpoint(kube, namespace, token, flags.timeoutMs), targets, reported };
}

type Found = import('@kubernetes/client-node').V1Pod | { missing: string };

async function listPods(kube: Kube, namespace: string, selector: string | undefined): Promise<Found[]> {
  const list = await kube.call(`list pods in ${namespace}`, (core) => core.listNamespacedPod({ namespace, ...(selector ? { labelSelector: selector } : {}) }));
  return [...list.items].sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
}

async function readPods(kube: Kube, namespace: string, names: string[]): Promise<Found[]> {
  const found: Found[] = [];
  for (const name of [...new Set(names)]) {
    try {
      found.push(await kube.call(`get pod ${namespace}/${name}`, (core) => core.readNamespacedPod({ name, namespace })));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) found.push({ missing: name });
      else throw err;
    }
  }
  return found;
}
