import { createServer } from 'node:http';
import t from 'tap';
import { Kube } from '../../src/kubernetes/client.js';
import { serve } from '../helpers/admin.js';
import { ApiClient } from '../../src/faultpolicy/api.js';
import { faultPolicyApi } from '../helpers/faultpolicy.js';
import { kubeApi } from '../helpers/kube-api.js';

// The fake API server is what every Kubernetes test stands on: its own behaviour, checked
// against what faultline relies on from the real one.
t.test('the fake API server: lists with selectors and resourceVersion, conflicts, and a pod proxy that drops Authorization', async (t) => {
  const api = await kubeApi(t);
  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  let seen: Record<string, unknown> = {};
  const echo = await serve(t, createServer((req, res) => {
    seen = { method: req.method, url: req.url, headers: req.headers };
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }));
  api.addNamespace('shop');
  api.addPod({ namespace: 'shop', name: 'a', labels: { app: 'shop', tier: 'web' }, ports: { 15000: Number(new URL(echo).port) } });
  api.addPod({ namespace: 'shop', name: 'b', labels: { app: 'shop', tier: 'db' } });
  api.addPod({ namespace: 'shop', name: 'c', labels: { app: 'pay' } });

  const list = await kube.call('list', (core) => core.listNamespacedPod({ namespace: 'shop', labelSelector: 'app=shop,tier notin (db)' }));
  t.same(list.items.map((p) => p.metadata?.name), ['a'], 'label selectors, the full grammar');
  t.equal(list.metadata?.resourceVersion, api.store.resourceVersion, 'the list carries the store\'s resourceVersion');
  await t.rejects(kube.call('list', (core) => core.listNamespacedPod({ namespace: 'shop', labelSelector: 'app in (' })), { code: 'FL_ERR_KUBE_API', status: 400 });

  const created = await kube.call('create', (core) => core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 's' }, data: { token: 'eA==' } } }));
  t.match(created.metadata, { name: 's', namespace: 'shop', uid: String, resourceVersion: /^\d+$/ });
  await t.rejects(kube.call('create', (core) => core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 's' } } })), { status: 409, message: /secrets "s" already exists/ });
  const updated = await kube.call('replace', (core) => core.replaceNamespacedSecret({ name: 's', namespace: 'shop', body: { ...created, data: { token: 'eQ==' } } }));
  t.ok(Number(updated.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion), 'every write bumps the resourceVersion');
  await t.rejects(kube.call('replace', (core) => core.replaceNamespacedSecret({ name: 's', namespace: 'shop', body: created })), { status: 409, message: /the object has been modified/ }, 'a stale resourceVersion is a Conflict');
  await kube.call('delete', (core) => core.deleteNamespacedSecret({ name: 's', namespace: 'shop' }));
  t.same(api.store.events.map((e) => `${e.type} ${e.object.kind}/${e.object.metadata.name}`).slice(-3), ['ADDED Secret/s', 'MODIFIED Secret/s', 'DELETED Secret/s'], 'changes are events (for a watch)');

  const answer = await kube.request('POST', '/api/v1/namespaces/shop/pods/a:15000/proxy/killswitch?x=1', { headers: { 'x-faultline-token': 't0k', 'content-type': 'application/json' }, body: '{}' });
  t.equal(answer.status, 200);
  t.match(seen, { method: 'POST', url: '/killswitch?x=1', headers: { 'x-faultline-token': 't0k' } }, 'forwarded with its path, query and headers');
  t.notOk((seen.headers as Record<string, unknown>).authorization, 'but not the Authorization header, as the real API server');
  const refused = await kube.request('GET', '/api/v1/namespaces/shop/pods/b:15000/proxy/status');
  t.equal(refused.status, 503, 'a pod nothing answers for: 503');
  t.match(JSON.parse(refused.text), { kind: 'Status', reason: 'ServiceUnavailable', message: /error trying to reach service/ });
});

t.test('the fake API server: custom resources, status subresource, generation, the watch stream, 410 Gone, metadata-only lists', async (t) => {
  const api = await faultPolicyApi(t);
  const path = '/apis/faultline.dev/v1alpha1/namespaces/shop/faultpolicies';
  const client = await ApiClient.fromKubeconfig(api.kubeconfig);
  // client-node's Watch, as faultline's watcher uses it: every event, in order.
  const seen: string[] = [];
  const stream = await client.watch(path, { resourceVersion: api.store.resourceVersion }, (e) => void seen.push(`${e.type} ${e.object.metadata?.name}${e.type === 'MODIFIED' ? ` g${e.object.metadata?.generation}` : ''}`), () => undefined);
  t.teardown(() => stream.abort());
  await new Promise((r) => setTimeout(r, 100));
  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  const send = async (method: string, suffix: string, body: unknown, contentType = 'application/json') => {
    const answer = await kube.request(method, `${path}${suffix}`, { headers: { 'content-type': contentType }, body: JSON.stringify(body) });
    return { status: answer.status, body: JSON.parse(answer.text) };
  };
  const created = await send('POST', '', { apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name: 'a' }, spec: { rules: [] }, status: { appliedPods: 9 } });
  t.equal(created.status, 201);
  t.match(created.body.metadata, { generation: 1, uid: String });
  t.equal(created.body.status, undefined, "a create's status is dropped (status subresource)");
  t.equal(created.body.spec.mode, 'all', "the CRD's default is applied");
  const invalid = await send('POST', '', { apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name: 'b' }, spec: { mode: 'most' } });
  t.match(invalid, { status: 422, body: { kind: 'Status', reason: 'Invalid', message: /FaultPolicy "b" is invalid: spec\.mode: must be equal to one of the allowed values/ } }, 'the schema refuses: 422 Invalid');
  const merge = 'application/merge-patch+json';
  const status = await send('PATCH', '/a/status', { status: { appliedPods: 1 } }, merge);
  t.match(status.body, { status: { appliedPods: 1 }, metadata: { generation: 1 } }, 'a status patch leaves the generation');
  const spec = await send('PATCH', '/a', { spec: { enabled: false }, status: { appliedPods: 5 } }, merge);
  t.match(spec.body, { metadata: { generation: 2 }, status: { appliedPods: 1 } }, 'a spec patch bumps it, and cannot write the status');
  t.equal((await send('PATCH', '/a', [], 'application/json-patch+json')).status, 415, 'only merge patches');
  t.equal((await kube.request('DELETE', `${path}/a`)).status, 200);
  const deadline = Date.now() + 5000;
  while (!seen.includes('DELETED a') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(seen, ['ADDED a', 'MODIFIED a g1', 'MODIFIED a g2', 'DELETED a'], "the watch streams every change, in order (the 422 one is not stored)");

  // client-node's informer (list, then watch, its cache) on the same server.
  const lib = await import('@kubernetes/client-node');
  const config = new lib.KubeConfig();
  config.loadFromFile(api.kubeconfig);
  const custom = config.makeApiClient(lib.CustomObjectsApi);
  const informer = lib.makeInformer(config, path, () => custom.listNamespacedCustomObject({ group: 'faultline.dev', version: 'v1alpha1', namespace: 'shop', plural: 'faultpolicies' }) as never);
  const informed: string[] = [];
  informer.on('add', (o) => void informed.push(`add ${o.metadata?.name}`));
  informer.on('delete', (o) => void informed.push(`delete ${o.metadata?.name}`));
  await informer.start();
  t.teardown(() => informer.stop());
  await send('POST', '', { apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name: 'c' }, spec: {} });
  await kube.request('DELETE', `${path}/c`);
  const until = Date.now() + 5000;
  while (!informed.includes('delete c') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.same(informed, ['add c', 'delete c'], "client-node's informer follows it too");

  api.store.compact();
  const compacted = await kube.request('GET', `${path}?watch=true&resourceVersion=1&timeoutSeconds=1`);
  t.match(JSON.parse(compacted.text.trim().split('\n')[0] as string), { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }, 'an old resourceVersion after compaction: a 410 Gone ERROR event');
  api.addPod({ namespace: 'shop', name: 'p', labels: { app: 'shop' } });
  const meta = JSON.parse((await kube.request('GET', '/api/v1/namespaces/shop/pods', { headers: { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' } })).text);
  t.match(meta, { kind: 'PartialObjectMetadataList', items: [{ kind: 'PartialObjectMetadata', metadata: { name: 'p', labels: { app: 'shop' } } }] });
  t.notOk('spec' in meta.items[0], 'metadata only');
});
