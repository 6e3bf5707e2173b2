import { createServer } from 'node:http';
import t from 'tap';
import { Kube } from '../../src/kubernetes/client.js';
import { serve } from '../helpers/admin.js';
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
