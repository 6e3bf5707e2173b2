import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { pino } from 'pino';
import { RuntimeLayers } from '../../src/admin/layers.js';
import { ApiClient } from '../../src/faultpolicy/api.js';
import { faultPolicyCrd } from '../../src/faultpolicy/crd.js';
import type { FaultPolicyLayer } from '../../src/faultpolicy/layer.js';
import { PodInfo } from '../../src/faultpolicy/pod-info.js';
import { startFaultPolicySource } from '../../src/faultpolicy/source.js';
import { Metrics } from '../../src/metrics.js';
import { createMetricsServer } from '../../src/metrics-server.js';
import { Sidecar } from '../../src/sidecar.js';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { crdDefaulter, crdValidator } from './crd-schema.js';
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
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema as Record<string, unknown>;
  api.installCrd(crd as never, crdValidator(schema), crdDefaulter(schema));
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

/** A pod's sidecar in this process: a Sidecar with no file policy, its FaultPolicy source, and its metrics port (with /faultpolicies). */
export interface InProcessPod {
  name: string;
  sidecar: Sidecar;
  layer: FaultPolicyLayer;
  /** http://127.0.0.1:PORT of its metrics server. */
  metricsUrl: string;
}

/** Starts an in-process pod sidecar watching the fake API's FaultPolicies (the same code `faultline sidecar --faultpolicies` runs). */
export async function inProcessPod(t: Test, api: KubeApi, name: string, labels: Record<string, string>, options: { addPod?: boolean } = {}): Promise<InProcessPod> {
  if (options.addPod !== false) api.addPod({ namespace: 'shop', name, labels, annotations: INJECTED });
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  const layers = new RuntimeLayers(sidecar);
  const client = await ApiClient.fromKubeconfig(api.kubeconfig);
  const pod = await PodInfo.load(podInfoDir(t, name, 'shop', labels));
  const { layer, stop } = startFaultPolicySource({ sidecar, layers, api: client, pod, log: pino({ level: 'silent' }) });
  const server = createMetricsServer(sidecar.metrics, () => true, { '/faultpolicies': () => layer.document() });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    stop();
    server.close();
    return sidecar.drain(0);
  });
  return { name, sidecar, layer, metricsUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** Resolves once `check` holds, polling every 20 ms (rejects after `ms`). */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `kubectl get faultpolicies`: the CRD's printer columns (NAME, then each jsonPath), ages as kubectl prints them. */
export function printerTable(crd: Record<string, any>, objects: Record<string, any>[], now = Date.now()): string {
  const columns = crd.spec.versions[0].additionalPrinterColumns as { name: string; type: string; jsonPath: string }[];
  const at = (o: unknown, path: string) => path.split('.').filter(Boolean).reduce<any>((v, k) => (v === undefined || v === null ? undefined : v[k]), o);
  const age = (ts: string) => {
    const s = Math.max(0, Math.round((now - Date.parse(ts)) / 1000));
    return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
  };
  const rows = [['NAME', ...columns.map((c) => c.name.toUpperCase())]];
  for (const o of objects) rows.push([o.metadata.name, ...columns.map((c) => {
    const v = at(o, c.jsonPath);
    return v === undefined ? '' : c.type === 'date' ? age(String(v)) : String(v);
  })]);
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd((widths[i] as number) + 3)).join('').trimEnd()).join('\n');
}
