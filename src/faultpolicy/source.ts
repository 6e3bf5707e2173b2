import type { RuntimeLayers } from '../admin/layers.js';
import { ANNOTATIONS } from '../kubernetes/annotations.js';
import { KUBE_CREDENTIALS_DIR, POD_INFO_DIR } from '../kubernetes/builders.js';
import type { Logger } from '../log.js';
import type { Sidecar } from '../sidecar.js';
import type { ApiClient } from './api.js';
import { FaultPolicyLayer } from './layer.js';
import type { PodInfo } from './pod-info.js';
import { collectionPath } from './resource.js';
import type { Candidate } from './selection.js';
import { CollectionWatch } from './watcher.js';

/** Labels and the pod set may change without a FaultPolicy event: evaluated again this often. */
export const RESYNC_MS = 10_000;

/** Asks for metadata only: names, labels and annotations are all a selection needs. */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/** A listed pod's metadata (a Pod or a PartialObjectMetadata). */
export interface ListedPod {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
}

/** The candidates of a selection: pods with a faultline sidecar (the injector's annotation), not being deleted. */
export function candidatesOf(items: readonly ListedPod[]): Candidate[] {
  return items
    .filter((p) => p.metadata?.name && p.metadata.annotations?.[ANNOTATIONS.status] !== undefined && !p.metadata.deletionTimestamp)
    .map((p) => ({ name: p.metadata?.name as string, labels: p.metadata?.labels ?? {} }));
}

/** The candidates among the namespace's pods matching `labelSelector` (metadata only is asked for). */
export async function listCandidates(api: ApiClient, namespace: string, labelSelector: string): Promise<Candidate[]> {
  const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
  const list = await api.json<{ items?: ListedPod[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods${query}`, { accept: METADATA_ONLY });
  return candidatesOf(list.items ?? []);
}

/**
 * Starts the FaultPolicy source of a sidecar: a list-then-watch of its namespace's FaultPolicy
 * objects feeding the `faultpolicies` layer, evaluated again every RESYNC_MS. Returns the layer
 * (also set as `sidecar.faultPolicies`) and a function that stops it all.
 */
export function startFaultPolicySource(options: { sidecar: Sidecar; layers: RuntimeLayers; api: ApiClient; pod: PodInfo; log: Logger; kernelFaults?: boolean }): { layer: FaultPolicyLayer; stop: () => void } {
  const { sidecar, layers, api, pod } = options;
  const log = options.log.child({ component: 'faultpolicy' });
  const layer = new FaultPolicyLayer({
    layers,
    pod,
    listPods: (selector) => listCandidates(api, pod.namespace, selector),
    log,
    metrics: sidecar.metrics,
    kernelFaults: options.kernelFaults === true,
  });
  sidecar.faultPolicies = layer;
  const report = (err: unknown) => log.error({ cause: (err as Error).message }, 'FaultPolicy evaluation failed; keeping what is applied');
  const watch = new CollectionWatch({
    api,
    path: collectionPath(pod.namespace),
    onChange: (items) => void layer.update([...items.values()] as never).catch(report),
    onState: (state, error) => layer.setWatchState(state, watch.lastSyncAt, error),
  });
  watch.start();
  const timer = setInterval(() => {
    layer.watch.lastSyncAt = watch.lastSyncAt;
    void layer.evaluate().catch(report);
  }, RESYNC_MS);
  timer.unref();
  return {
    layer,
    stop: () => {
      clearInterval(timer);
      watch.stop();
    },
  };
}

/** The sidecar's flags for FaultPolicy objects. */
export interface FaultPolicyFlags {
  /** Watch the namespace's FaultPolicy objects. */
  faultpolicies?: boolean;
  /** The Downward API volume: name, namespace, labels. */
  podInfo?: string;
  /** The sidecar's own projected service-account volume: token, ca.crt. */
  kubeCredentials?: string;
  /** A kubeconfig instead (a sidecar run outside a pod, tests). */
  kubeconfig?: string;
}


/**
 * `faultline sidecar --faultpolicies`: loads the pod's identity and the API client (the
 * Kubernetes client is loaded only then), and starts the source. Never waits for the API
 * server: a pod whose API server is down starts, with its file policy, and says so.
 */
export async function startFromFlags(flags: FaultPolicyFlags, sidecar: Sidecar, layers: RuntimeLayers, log: Logger, kernelFaults: boolean): Promise<(() => void) | undefined> {
  if (!flags.faultpolicies) return undefined;
  const { PodInfo } = await import('./pod-info.js');
  const { ApiClient } = await import('./api.js');
  const pod = await PodInfo.load(flags.podInfo ?? POD_INFO_DIR);
  const api = flags.kubeconfig ? await ApiClient.fromKubeconfig(flags.kubeconfig) : await ApiClient.inCluster(flags.kubeCredentials ?? KUBE_CREDENTIALS_DIR);
  log.info({ component: 'faultpolicy', pod: pod.name, namespace: pod.namespace, server: api.server }, 'watching FaultPolicy objects');
  return startFaultPolicySource({ sidecar, layers, api, pod, log, kernelFaults }).stop;
}
