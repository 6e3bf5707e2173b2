import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { faultPolicyCrd } from '../../src/faultpolicy/crd.js';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { crdValidator } from './crd-schema.js';
import { kubeApi, type KubeApi } from './kube-api.js';
import { startDaemon, type Daemon } from './process.js';
import { policyText, tempDir } from './sidecar.js';

/** The annotation the injector puts on the pods it injects (the candidates of a selection). */
export const INJECTED = { 'faultline.dev/status': '{"version":"test"}' };

/** A fake API server serving the FaultPolicy CRD (its schema checked on every write, as the real one does), with namespace `shop`. */
export async function faultPolicyApi(t: Test): Promise<KubeApi> {
  const api = await kubeApi(t);
  api.addNamespace('shop');
  const crd = faultPolicyCrd() as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
  api.installCrd(crd as never, crdValidator(crd.spec.versions[0]?.schema.openAPIV3Schema as Record<string, unknown>));
  return api;
}

/** A FaultPolicy object's body. */
export function faultPolicy(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name }, spec };
}

/** Creates a FaultPolicy in the fake's store (as `kubectl apply` would), returning it. */
export function createFaultPolicy(api: KubeApi, namespace: string, name: string, spec: Record<string, unknown>) {
  return api.store.create(RESOURCE, namespace, faultPolicy(name, spec));
}

/** The Downward API volume of a pod: name, namespace, labels (as the kubelet writes them). */
export function podInfoDir(t: Test, name: string, namespace: string, labels: Record<string, string>): string {
  const dir = join(tempDir(t), 'pod');
  mkdirSync(dir);
  writeFileSync(join(dir, 'name'), name);
  writeFileSync(join(dir, 'namespace'), namespace);
  writeFileSync(join(dir, 'labels'), Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n'));
  return dir;
}

/** A real `faultline sidecar --faultpolicies` for pod `name`, its file policy one listener `up` to `upstream`. */
export async function watchingSidecar(t: Test, api: KubeApi, name: string, labels: Record<string, string>, upstream: number, extraArgs: string[] = []): Promise<{ daemon: Daemon; port: number; admin: number; metrics: number }> {
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ name: 'file', listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`] }));
  const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--faultpolicies', '--pod-info', podInfoDir(t, name, 'shop', labels), '--kubeconfig', api.kubeconfig, ...extraArgs], { FAULTLINE_LOG_LEVEL: 'info' });
  const portOf = async (match: (l: Record<string, unknown>) => boolean) => Number(String((await daemon.waitForLine(match, 60_000)).address).split(':').pop());
  const port = await portOf((l) => l.msg === 'listening' && l.listener === 'up');
  const admin = await portOf((l) => l.msg === 'listening' && l.component === 'admin');
  const metrics = await portOf((l) => l.msg === 'listening' && l.component === 'metrics');
  await daemon.waitForLine((l) => l.msg === 'FaultPolicy watch: in sync', 60_000);
  return { daemon, port, admin, metrics };
}
