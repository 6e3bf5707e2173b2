import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Test } from 'tap';
import { ApiStatus, notFound, ObjectStore, RESOURCES, type StoredObject } from './kube-store.js';
import { WatchHub, watchRequest } from './kube-watch.js';
import { podObject, Workloads, type FakePod } from './kube-workloads.js';
import { tempDir } from './sidecar.js';

export { ApiStatus, ObjectStore, type StoredObject } from './kube-store.js';
export type { FakePod, FakeDeployment } from './kube-workloads.js';

/** A ConfigMap as the API server holds it. */
export interface StoredConfigMap extends StoredObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  data: Record<string, string>;
}

/** A Status object, as the API server answers errors (shape recorded from a real cluster). */
export function status(code: number, reason: string, message: string, name: string, kind = 'configmaps'): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: { name, kind }, code };
}

/** One RBAC allow rule, as a Role's: verbs × resources (with "pods/proxy" for a subresource) × namespaces × names. */
export interface AllowRule {
  verbs: string[];
  resources: string[];
  /** Where the rule holds (a RoleBinding's namespace); every namespace when absent (a ClusterRoleBinding). */
  namespaces?: string[];
  resourceNames?: string[];
}

/** A user of the fake, known by the bearer token it sends. */
export interface FakeUser {
  name: string;
  rules: AllowRule[];
}

export const ALLOW_ALL: AllowRule[] = [{ verbs: ['*'], resources: ['*'] }];

/** What a request to the fake looked like. */
export interface RecordedRequest {
  method: string;
  path: string;
  auth: string | undefined;
  user: string | undefined;
  contentType: string | undefined;
  body: any;
}

export interface KubeApi {
  url: string;
  /** A kubeconfig for the default user (namespace "shop"). */
  kubeconfig: string;
  store: ObjectStore;
  /** The ConfigMaps (the store's collection), as earlier tests seed them. */
  configMaps: Map<string, StoredConfigMap>;
  requests: RecordedRequest[];
  users: Map<string, FakeUser>;
  /** Called after each successful PUT of a ConfigMap (what the kubelet would then deliver to the pods). */
  onUpdate?: (cm: StoredConfigMap) => void;
  /** Before the next PUT, someone else changes the object (bumps its resourceVersion): a 409. */
  conflictOnce: boolean;
  /** up: serve; unavailable: every request gets 503; closed: every connection is cut at once. */
  mode: 'up' | 'unavailable' | 'closed';
  /** Adds a user and writes a kubeconfig for it; resolves with the kubeconfig's path. */
  addUser(token: string, name: string, rules: AllowRule[], namespace?: string): string;
  addNamespace(name: string, labels?: Record<string, string>): void;
  addPod(pod: FakePod): StoredObject;
  /** Serves a CustomResourceDefinition's resource (as creating the CRD does), its schema checked with `validate`. */
  installCrd(crd: Record<string, unknown>, validate?: (object: Record<string, unknown>) => string[], defaults?: (object: Record<string, unknown>) => void): string;
  /** Open watches; `watches.dropAll()` ends them (the clients must watch again). */
  watches: WatchHub;
  /** Deployments whose pods come back when deleted (podKill) and follow their scale. */
  workloads: Workloads;
}

/** How the API server maps an HTTP method to an RBAC verb (a collection GET is list). */
function verbOf(method: string, collection: boolean, watch: boolean): string {
  if (method === 'GET' || method === 'HEAD') return collection ? (watch ? 'watch' : 'list') : 'get';
  return { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: collection ? 'deletecollection' : 'delete' }[method] ?? method.toLowerCase();
}

/** What a request asks for, parsed as the API server's RequestInfo does. */
interface RequestInfo {
  resource: string;
  group: string;
  plural: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  /** The path after /proxy, with the query. */
  rest: string;
  verb: string;
}

function requestInfo(req: IncomingMessage): RequestInfo | undefined {
  const url = new URL(req.url ?? '/', 'https://api');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) [group, version, rest] = ['', parts[1] as string, parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 3) [group, version, rest] = [parts[1] as string, parts[2] as string, parts.slice(3)];
  else return undefined;
  let namespace: string | undefined;
  // /namespaces/NS/RESOURCE/... : a namespaced resource; /namespaces/NS alone: the namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces' && rest.length === 2) {
    namespace = rest[1];
  }
  const [plural, name, subresource, ...tail] = rest as [string, string | undefined, string | undefined, ...string[]];
  if (!plural) return undefined;
  const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
  return {
    resource: `${group ? `${group}/` : ''}${version}/${plural}`,
    group,
    plural,
    namespace,
    name,
    subresource,
    rest: `/${tail.map(encodeURIComponent).join('/')}${url.search}`,
    verb: verbOf(req.method ?? 'GET', name === undefined, watch),
  };
}

/** The real API server's 403 message, word for word. */
function forbidden(user: string, info: RequestInfo): ApiStatus {
  const resource = info.subresource ? `${info.plural}/${info.subresource}` : info.plural;
  const what = info.name ? `${info.plural} "${info.name}"` : info.plural;
  const scope = info.namespace ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
  return new ApiStatus(403, 'Forbidden', `${what} is forbidden: User "${user}" cannot ${info.verb} resource "${resource}" in API group "${info.group}" ${scope}`, {
    ...(info.name ? { name: info.name } : {}),
    kind: info.plural,
  });
}

function allowed(user: FakeUser, info: RequestInfo): boolean {
  const resource = info.subresource ? `${info.plural}/${info.subresource}` : info.plural;
  return user.rules.some(
    (rule) =>
      (rule.verbs.includes('*') || rule.verbs.includes(info.verb)) &&
      (rule.resources.includes('*') || rule.resources.includes(resource)) &&
      (rule.namespaces === undefined || (info.namespace !== undefined && rule.namespaces.includes(info.namespace))) &&
      (rule.resourceNames === undefined || (info.name !== undefined && rule.resourceNames.includes(info.name))),
  );
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'authorization']);

/**
 * A fake Kubernetes API server over TLS, faithful where faultline depends on it: bearer-token
 * users with RBAC answers scripted per user (401 and 403 Status objects with the real server's
 * messages), namespaces, pods (GET, LIST with the full label-selector grammar and the list's
 * resourceVersion), secrets and configmaps (GET, LIST, CREATE with 409 AlreadyExists, PUT with
 * resourceVersion checks, DELETE), and the pod proxy (`pods/NAME[:PORT]/proxy/PATH`) forwarding
 * to real processes on loopback, with the Authorization header deleted as the real one does
 * after authenticating, and a 503 Status when the pod cannot be reached. `mode` makes the whole
 * API answer 503 or cut every connection. Objects live in an ObjectStore (one resourceVersion
 * counter, change events). On top: watches (`?watch=true`: a chunked stream of JSON events from
 * a resourceVersion, bookmarks, timeoutSeconds, 410 Gone after `store.compact()`, as
 * client-node's Watch and informer read them; kube-watch.ts), custom resources from a CRD
 * (`installCrd`, its schema checked with a 422 and its defaults applied), status subresources
 * and `metadata.generation`, merge patches, metadata-only lists (PartialObjectMetadataList),
 * Deployments with `/scale` whose pods come back ready after a delay (kube-workloads.ts), and
 * RoleBindings.
 */
export async function kubeApi(t: Test, token = 'kube-token-abc'): Promise<KubeApi> {
  const dir = tempDir(t);
  const cert = join(dir, 'api.crt');
  const key = join(dir, 'api.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const store = new ObjectStore();
  const targets = new Map<string, { ports: Record<number, number>; delayMs: number }>();
  const api: KubeApi = {
    url: '',
    kubeconfig: join(dir, 'kubeconfig'),
    store,
    configMaps: store.collection('v1/configmaps') as Map<string, StoredConfigMap>,
    requests: [],
    users: new Map([[token, { name: 'tester', rules: ALLOW_ALL }]]),
    conflictOnce: false,
    mode: 'up',
    addUser(userToken, name, rules, namespace = 'shop') {
      api.users.set(userToken, { name, rules });
      const file = join(dir, `kubeconfig-${name.replace(/[^A-Za-z0-9-]/g, "-")}`);
      writeFileSync(file, kubeconfigText(api.url, cert, name, userToken, namespace));
      return file;
    },
    addNamespace(name, labels = {}) {
      store.create('v1/namespaces', undefined, { metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    },
    addPod(pod) {
      targets.set(`${pod.namespace}/${pod.name}`, { ports: pod.ports ?? {}, delayMs: pod.proxyDelayMs ?? 0 });
      return store.create('v1/pods', pod.namespace, podObject(pod, `10.244.0.${targets.size % 250}`));
    },
    installCrd(crd, validate, defaults) {
      const spec = crd.spec as { group: string; versions: { name: string; subresources?: { status?: object } }[]; names: { plural: string; kind: string }; scope: string };
      const version = spec.versions[0] as { name: string; subresources?: { status?: object } };
      const resource = `${spec.group}/${version.name}/${spec.names.plural}`;
      store.define(resource, { kind: spec.names.kind, namespaced: spec.scope === 'Namespaced', status: version.subresources?.status !== undefined, ...(validate ? { validate } : {}), ...(defaults ? { defaults } : {}) });
      store.create('apiextensions.k8s.io/v1/customresourcedefinitions', undefined, crd);
      return resource;
    },
    watches: new WatchHub(store),
    workloads: undefined as unknown as Workloads,
  };
  api.workloads = new Workloads(store, (pod) => api.addPod(pod));
  t.teardown(() => api.workloads.close());

  const send = (res: ServerResponse, code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const fail = (res: ServerResponse, err: ApiStatus) => send(res, err.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason, ...(Object.keys(err.details).length ? { details: err.details } : {}), code: err.code });

  const proxy = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, body: Buffer) => {
    // NAME, NAME:PORT or SCHEME:NAME:PORT, as the API server accepts.
    const parts = (info.name as string).split(':');
    const [name, port] = parts.length === 3 ? [parts[1] as string, parts[2]] : [parts[0] as string, parts[1]];
    const pod = store.get('v1/pods', info.namespace, name) as StoredObject & { status?: { podIP?: string }; spec: { containers: { ports?: { containerPort: number }[] }[] } };
    const target = targets.get(`${info.namespace}/${name}`);
    const podPort = Number(port ?? pod.spec.containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort);
    const real = target?.ports[podPort];
    const unreachable = (why: string) => fail(res, new ApiStatus(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${pod.status?.podIP ?? ''}:${podPort}: ${why}`));
    if (!pod.status?.podIP || real === undefined) return unreachable('connect: connection refused');
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    setTimeout(() => {
      const upstream = httpRequest({ host: '127.0.0.1', port: real, method: req.method, path: info.rest, headers }, (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(answer.statusCode ?? 502, out);
        answer.pipe(res);
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => (res.headersSent ? res.destroy() : unreachable(`connect: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.code}`)));
      upstream.end(body);
    }, target?.delayMs ?? 0);
  };

  /** `/status` (custom resources with a status subresource, Deployments) and a Deployment's `/scale`. */
  const subresource = (req: IncomingMessage, info: RequestInfo, namespace: string | undefined, parsed: any): unknown => {
    const name = info.name as string;
    if (info.subresource === 'status' && RESOURCES.get(info.resource)?.status) {
      if (req.method === 'GET') return store.get(info.resource, namespace, name);
      if (req.method === 'PUT') return store.updateStatus(info.resource, namespace, name, parsed ?? {});
      if (req.method === 'PATCH') return store.patch(info.resource, namespace, name, parsed ?? {}, 'status');
    }
    if (info.subresource === 'scale' && info.resource === 'apps/v1/deployments') {
      const scale = (d: StoredObject) => ({
        kind: 'Scale', apiVersion: 'autoscaling/v1',
        metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
        spec: { replicas: (d.spec as { replicas: number }).replicas },
        status: { replicas: (d.status as { replicas?: number } | undefined)?.replicas ?? 0, selector: Object.entries((d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') },
      });
      const stored = store.get(info.resource, namespace, name);
      if (req.method === 'GET') return scale(stored);
      const replicas = req.method === 'PATCH' ? parsed?.spec?.replicas : parsed?.spec?.replicas;
      if (req.method !== 'PUT' && req.method !== 'PATCH') throw new ApiStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      if (!Number.isInteger(replicas) || replicas < 0) throw new ApiStatus(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
      const sent = parsed?.metadata?.resourceVersion;
      return scale(store.update(info.resource, namespace, name, { ...stored, metadata: { ...stored.metadata, ...(sent !== undefined ? { resourceVersion: sent } : {}) }, spec: { ...(stored.spec as object), replicas } }));
    }
    throw new ApiStatus(404, 'NotFound', 'the server could not find the requested resource');
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const text = body.toString('utf8');
    const auth = req.headers.authorization;
    const user = auth?.startsWith('Bearer ') ? api.users.get(auth.slice(7)) : undefined;
    const info = requestInfo(req);
    let parsed: any;
    try {
      parsed = text && info?.subresource !== 'proxy' ? JSON.parse(text) : undefined;
    } catch {
      return fail(res, new ApiStatus(400, 'BadRequest', 'the request body is not JSON'));
    }
    api.requests.push({ method: req.method ?? '', path: req.url ?? '', auth, user: user?.name, contentType: req.headers['content-type'], body: parsed });
    if (api.mode === 'unavailable') return fail(res, new ApiStatus(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    if (!user) return send(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    if (!info || !RESOURCES.has(info.resource)) return fail(res, new ApiStatus(404, 'NotFound', 'the server could not find the requested resource'));
    if (!allowed(user, info)) return fail(res, forbidden(user.name, info));
    try {
      if (info.subresource === 'proxy') return proxy(req, res, info, body);
      const namespace = RESOURCES.get(info.resource)?.namespaced ? info.namespace : undefined;
      const query = new URL(req.url ?? '/', 'https://api').searchParams;
      const name = info.plural === 'namespaces' ? (info.name ?? undefined) : info.name;
      if (info.subresource !== undefined) return send(res, 200, subresource(req, info, namespace, parsed));
      if (req.method === 'PATCH' && name !== undefined) {
        if (!String(req.headers['content-type']).startsWith('application/merge-patch+json')) throw new ApiStatus(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json`);
        return send(res, 200, store.patch(info.resource, namespace, name, parsed ?? {}));
      }
      const watch = req.method === 'GET' && name === undefined ? watchRequest(info.resource, namespace, query) : undefined;
      if (watch) return api.watches.serve(res, watch);
      if (req.method === 'GET' && name === undefined) {
        const { items, resourceVersion } = store.list(info.resource, namespace, query.get('labelSelector') ?? '');
        // `Accept: ...;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`: metadata only, as the real server answers it.
        if (/as=PartialObjectMetadataList/.test(String(req.headers.accept))) {
          return send(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, items: items.map((item) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata })) });
        }
        const kind = `${RESOURCES.get(info.resource)?.kind}List`;
        return send(res, 200, { kind, apiVersion: info.resource.split('/').slice(0, -1).join('/'), metadata: { resourceVersion }, items: items.map(({ apiVersion: _a, kind: _k, ...item }) => item) });
      }
      if (req.method === 'GET') return send(res, 200, store.get(info.resource, namespace, name as string));
      if (req.method === 'POST' && name === undefined) {
        if (query.get('dryRun') === 'All') return send(res, 201, parsed);
        return send(res, 201, store.create(info.resource, namespace, parsed ?? {}));
      }
      if (req.method === 'PUT' && name !== undefined) {
        if (api.conflictOnce) {
          api.conflictOnce = false;
          store.touch(info.resource, namespace, name);
        }
        const updated = store.update(info.resource, namespace, name, parsed ?? {});
        if (info.plural === 'configmaps') api.onUpdate?.(updated as StoredConfigMap);
        return send(res, 200, updated);
      }
      if (req.method === 'DELETE' && name !== undefined) {
        const deleted = store.delete(info.resource, namespace, name);
        return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: info.plural, uid: deleted.metadata.uid } });
      }
      throw new ApiStatus(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    } catch (err) {
      if (err instanceof ApiStatus) return fail(res, err);
      throw err;
    }
  };

  const sockets = new Set<Socket>();
  const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('secureConnection', (socket) => {
    if (api.mode === 'closed') return void socket.destroy();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('connection', (socket: Socket) => {
    if (api.mode === 'closed') socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  api.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  writeFileSync(api.kubeconfig, kubeconfigText(api.url, cert, 'tester', token, 'shop'));
  return api;
}

function kubeconfigText(url: string, cert: string, user: string, token: string, namespace: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: "${url}", certificate-authority-data: ${readFileSync(cert).toString('base64')}}
users:
  - name: ${user}
    user: {token: ${token}}
contexts:
  - name: test
    context: {cluster: test, user: ${user}, namespace: ${namespace}}
  - name: other
    context: {cluster: test, user: ${user}, namespace: elsewhere}
current-context: test
`;
}

/** Stores a ConfigMap in the fake API (as if someone had created it earlier). */
export function putConfigMap(api: KubeApi, namespace: string, name: string, data: Record<string, string>): void {
  api.configMaps.set(`${namespace}/${name}`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, uid: '6f1c2f64-8f5b-4c8e-9d59-0f8b7f1d2a10', resourceVersion: '999', creationTimestamp: '2026-11-22T12:00:00Z' },
    data,
  });
}

export { notFound };
