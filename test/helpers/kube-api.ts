import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import type { Test } from 'tap';
import { tempDir } from './sidecar.js';

/** A ConfigMap as the API server holds it. */
export interface StoredConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string; [k: string]: unknown };
  data: Record<string, string>;
}

/** A Status object, as the API server answers errors (shape recorded from a real cluster). */
export function status(code: number, reason: string, message: string, name: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: { name, kind: 'configmaps' }, code };
}

export interface KubeApi {
  url: string;
  kubeconfig: string;
  configMaps: Map<string, StoredConfigMap>;
  requests: { method: string; path: string; auth: string | undefined; contentType: string | undefined; body: any }[];
  /** Called after each successful PUT (what the kubelet would then deliver to the pods). */
  onUpdate?: (cm: StoredConfigMap) => void;
  /** Before the next PUT, someone else changes the ConfigMap (bumps its resourceVersion): a 409. */
  conflictOnce: boolean;
}

/**
 * The few Kubernetes API calls faultline's ConfigMap target makes (GET and PUT of
 * /api/v1/namespaces/{ns}/configmaps/{name}), over TLS with a bearer token, with the API
 * server's semantics: resourceVersion bumped on every write, a PUT with a stale one is a 409
 * Conflict, a missing object a 404 NotFound, both as Status objects. Reached through a
 * kubeconfig file (certificate-authority-data, token) written for it.
 */
export async function kubeApi(t: Test, token = 'kube-token-abc'): Promise<KubeApi> {
  const dir = tempDir(t);
  const cert = join(dir, 'api.crt');
  const key = join(dir, 'api.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const api: KubeApi = { url: '', kubeconfig: join(dir, 'kubeconfig'), configMaps: new Map(), requests: [], conflictOnce: false };
  let version = 1000;
  const send = (res: ServerResponse, code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const handle = (req: IncomingMessage, res: ServerResponse, text: string) => {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/?]+)/.exec(req.url ?? '');
    const body = text ? JSON.parse(text) : undefined;
    api.requests.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, contentType: req.headers['content-type'], body });
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { ...status(401, 'Unauthorized', 'Unauthorized', ''), details: undefined });
    if (!m) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource', ''));
    const [, namespace, name] = m as unknown as [string, string, string];
    const stored = api.configMaps.get(`${namespace}/${name}`);
    if (!stored) return send(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`, name));
    if (req.method === 'GET') return send(res, 200, stored);
    if (req.method !== 'PUT') return send(res, 405, status(405, 'MethodNotAllowed', 'method not allowed', name));
    if (api.conflictOnce) {
      api.conflictOnce = false;
      stored.metadata.resourceVersion = String(++version);
    }
    if (body?.metadata?.resourceVersion !== stored.metadata.resourceVersion) {
      return send(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on configmaps "${name}": the object has been modified; please apply your changes to the latest version and try again`, name));
    }
    const next: StoredConfigMap = { ...stored, data: body.data, metadata: { ...stored.metadata, resourceVersion: String(++version) } };
    api.configMaps.set(`${namespace}/${name}`, next);
    api.onUpdate?.(next);
    send(res, 200, next);
  };
  const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d));
    req.on('end', () => handle(req, res, text));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  api.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  writeFileSync(api.kubeconfig, `apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: "${api.url}", certificate-authority-data: ${readFileSync(cert).toString('base64')}}
users:
  - name: tester
    user: {token: ${token}}
contexts:
  - name: test
    context: {cluster: test, user: tester, namespace: shop}
current-context: test
`);
  return api;
}

/** Stores a ConfigMap in the fake API. */
export function putConfigMap(api: KubeApi, namespace: string, name: string, data: Record<string, string>): void {
  api.configMaps.set(`${namespace}/${name}`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, uid: '6f1c2f64-8f5b-4c8e-9d59-0f8b7f1d2a10', resourceVersion: '999', creationTimestamp: '2026-11-22T12:00:00Z' },
    data,
  });
}
