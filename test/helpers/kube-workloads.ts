import { randomBytes } from 'node:crypto';
import type { ObjectStore, StoredObject } from './kube-store.js';

/** A fake pod: what the API server stores, and where its proxy reaches on loopback. */
export interface FakePod {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The faultline container: a regular sidecar (default), a native one, or none. */
  sidecar?: 'regular' | 'native' | 'none';
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /** The faultline container's readiness (default true). */
  ready?: boolean;
  /** Pod ports to real loopback ports, e.g. {15000: <a sidecar's admin port>}. */
  ports?: Record<number, number>;
  /** The proxy holds each request this long before forwarding it. */
  proxyDelayMs?: number;
  /** The ReplicaSet that owns it (pods of a fake Deployment). */
  owner?: string;
}

/** A Pod object as the API server would report it for `pod`. */
export function podObject(pod: FakePod, ip: string): Record<string, unknown> {
  const sidecar = { name: 'faultline', image: 'faultline:test', ports: [{ name: 'faultline-admin', containerPort: 15000, protocol: 'TCP' }] };
  const app = { name: 'app', image: 'app:test', ports: [{ containerPort: 8080, protocol: 'TCP' }] };
  const kind = pod.sidecar ?? 'regular';
  const phase = pod.phase ?? 'Running';
  const ready = pod.ready ?? true;
  const running = phase === 'Running';
  const statusOf = (name: string) => ({ name, ready: running && (name !== 'faultline' || ready), restartCount: 0, image: `${name}:test`, imageID: '', started: running, state: running ? { running: { startedAt: '2026-11-22T12:00:00Z' } } : { waiting: { reason: 'ContainerCreating' } } });
  return {
    metadata: {
      name: pod.name,
      labels: pod.labels ?? {},
      ...(pod.annotations ? { annotations: pod.annotations } : {}),
      ...(pod.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: pod.owner, uid: pod.owner, controller: true }] } : {}),
    },
    spec: {
      containers: kind === 'regular' ? [app, sidecar] : [app],
      ...(kind === 'native' ? { initContainers: [{ ...sidecar, restartPolicy: 'Always' }] } : {}),
    },
    status: {
      phase,
      ...(running ? { podIP: ip, podIPs: [{ ip }] } : {}),
      conditions: [{ type: 'Ready', status: running && ready ? 'True' : 'False' }],
      containerStatuses: [statusOf('app'), ...(kind === 'regular' ? [statusOf('faultline')] : [])],
      ...(kind === 'native' ? { initContainerStatuses: [statusOf('faultline')] } : {}),
    },
  };
}

/** A fake Deployment: its pods come back (new names, ready after a delay) when deleted or scaled. */
export interface FakeDeployment {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  replicas: number;
  /** A new pod is Pending this long before it is Running and ready (default 300 ms). */
  readyAfterMs?: number;
  /** Extra pod fields (annotations, sidecar kind). */
  pod?: Partial<FakePod>;
}

const DEPLOYMENTS = 'apps/v1/deployments';

/**
 * The part of the kube-controller-manager and the kubelet the tests need: a Deployment's
 * ReplicaSet keeps `spec.replicas` pods (creating Pending pods when one is deleted or the
 * Deployment scaled up, deleting the newest when scaled down), each becoming Running and ready
 * after `readyAfterMs`, and the Deployment's status counts them (replicas, readyReplicas).
 */
export class Workloads {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly specs = new Map<string, FakeDeployment>();
  private readonly generations = new Map<string, number>();
  private readonly stop: () => void;
  private ips = 100;

  constructor(
    private readonly store: ObjectStore,
    private readonly addPod: (pod: FakePod) => StoredObject,
  ) {
    this.stop = store.subscribe((event) => {
      if (event.resource === 'v1/pods' && event.type === 'DELETED') {
        const owner = (event.object.metadata.ownerReferences as { name: string }[] | undefined)?.[0]?.name;
        const key = owner ? [...this.specs.keys()].find((k) => `${k.split('/')[1]}-rs` === owner && k.startsWith(`${event.object.metadata.namespace}/`)) : undefined;
        if (key) this.later(() => this.reconcile(key), 20);
      }
      // A spec change (its generation moves), not the status this controller writes itself.
      if (event.resource === DEPLOYMENTS && event.type === 'MODIFIED') {
        const key = `${event.object.metadata.namespace}/${event.object.metadata.name}`;
        const generation = Number(event.object.metadata.generation);
        if (this.specs.has(key) && this.generations.get(key) !== generation) {
          this.generations.set(key, generation);
          this.later(() => this.reconcile(key), 20);
        }
      }
    });
  }

  /** Creates the Deployment and its pods (ready at once). */
  addDeployment(deployment: FakeDeployment): void {
    const key = `${deployment.namespace}/${deployment.name}`;
    this.specs.set(key, deployment);
    this.store.create(DEPLOYMENTS, deployment.namespace, {
      metadata: { name: deployment.name, labels: deployment.labels },
      spec: { replicas: deployment.replicas, selector: { matchLabels: deployment.labels }, template: { metadata: { labels: deployment.labels } } },
    });
    for (let i = 0; i < deployment.replicas; i++) this.newPod(deployment, 'Running');
    this.generations.set(key, 1);
    this.updateStatus(key);
  }

  /** Stops every timer (teardown). */
  close(): void {
    this.stop();
    for (const timer of this.timers) clearTimeout(timer);
  }

  private later(run: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private pods(deployment: FakeDeployment): StoredObject[] {
    return this.store.list('v1/pods', deployment.namespace).items.filter((p) => (p.metadata.ownerReferences as { name: string }[] | undefined)?.[0]?.name === `${deployment.name}-rs`);
  }

  private newPod(deployment: FakeDeployment, phase: 'Pending' | 'Running'): StoredObject {
    const name = `${deployment.name}-rs-${randomBytes(3).toString('hex').slice(0, 5)}`;
    return this.addPod({ ...deployment.pod, namespace: deployment.namespace, name, labels: deployment.labels, owner: `${deployment.name}-rs`, phase });
  }

  private reconcile(key: string): void {
    const deployment = this.specs.get(key) as FakeDeployment;
    let stored: StoredObject;
    try {
      stored = this.store.get(DEPLOYMENTS, deployment.namespace, deployment.name);
    } catch {
      return;
    }
    const want = Number((stored.spec as { replicas?: number }).replicas ?? 1);
    const pods = this.pods(deployment);
    for (let i = pods.length; i < want; i++) {
      const pod = this.newPod(deployment, 'Pending');
      this.later(() => this.makeReady(pod, key), deployment.readyAfterMs ?? 300);
    }
    const extra = [...pods].sort((a, b) => Number(b.metadata.resourceVersion) - Number(a.metadata.resourceVersion)).slice(0, Math.max(0, pods.length - want));
    for (const pod of extra) this.store.delete('v1/pods', deployment.namespace, pod.metadata.name);
    this.updateStatus(key);
  }

  private makeReady(pod: StoredObject, key: string): void {
    const deployment = this.specs.get(key) as FakeDeployment;
    let current: StoredObject;
    try {
      current = this.store.get('v1/pods', deployment.namespace, pod.metadata.name);
    } catch {
      return; // deleted meanwhile
    }
    const running = podObject({ ...deployment.pod, namespace: deployment.namespace, name: pod.metadata.name, phase: 'Running' }, `10.244.1.${this.ips++ % 250}`);
    this.store.update('v1/pods', deployment.namespace, pod.metadata.name, { ...current, status: running.status });
    this.updateStatus(key);
  }

  private updateStatus(key: string): void {
    const deployment = this.specs.get(key) as FakeDeployment;
    const pods = this.pods(deployment);
    const ready = pods.filter((p) => (p.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    const stored = this.store.get(DEPLOYMENTS, deployment.namespace, deployment.name);
    const status = { observedGeneration: stored.metadata.generation, replicas: pods.length, updatedReplicas: pods.length, readyReplicas: ready, availableReplicas: ready, unavailableReplicas: pods.length - ready };
    if (JSON.stringify(status) !== JSON.stringify(stored.status)) this.store.updateStatus(DEPLOYMENTS, deployment.namespace, deployment.name, { status });
  }
}
