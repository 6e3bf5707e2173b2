import t from 'tap';
import { ApiClient } from '../../src/faultpolicy/api.js';
import { collectionPath, RESOURCE } from '../../src/faultpolicy/resource.js';
import { CollectionWatch, type WatchState } from '../../src/faultpolicy/watcher.js';
import { createFaultPolicy, faultPolicyApi, until } from '../helpers/faultpolicy.js';

const spec = { rules: [{ name: 'r', faults: [{ type: 'refuse' }] }] };

t.test('list, then watch from its resourceVersion; events, bookmarks, 410 Gone lists again, failures go stale and recover', async (t) => {
  const api = await faultPolicyApi(t);
  api.watches.bookmarkMs = 50;
  createFaultPolicy(api, 'shop', 'a', spec);
  const states: string[] = [];
  let items = new Map<string, Record<string, any>>();
  const watch = new CollectionWatch({
    api: await ApiClient.fromKubeconfig(api.kubeconfig),
    path: collectionPath('shop'),
    onChange: (now) => (items = new Map(now)),
    onState: (state: WatchState, error) => states.push(`${state}${error ? `: ${error}` : ''}`),
    random: () => 0,
  });
  watch.start();
  t.teardown(() => watch.stop());
  const names = () => [...items.values()].map((o) => o.metadata.name).sort().join(',');
  await until(() => names() === 'a' && api.watches.size === 1, 10_000, 'the list and the watch');
  const watchAt = api.requests.find((r) => r.path.includes('watch=true'));
  t.match(watchAt?.path, /resourceVersion=\d+&allowWatchBookmarks=true&timeoutSeconds=300/, 'the watch starts at the list\'s resourceVersion, with bookmarks');

  createFaultPolicy(api, 'shop', 'b', spec);
  await until(() => names() === 'a,b', 5000, 'ADDED');
  api.store.patch(RESOURCE, 'shop', 'b', { spec: { enabled: false } });
  await until(() => items.get('shop/b')?.spec.enabled === false, 5000, 'MODIFIED');
  api.store.delete(RESOURCE, 'shop', 'a');
  await until(() => names() === 'b', 5000, 'DELETED');
  createFaultPolicy(api, 'elsewhere', 'c', spec);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(names(), 'b', 'objects of other namespaces are not seen');

  // Writes elsewhere move the store's resourceVersion; bookmarks carry it, and the next watch starts there.
  api.store.create('v1/secrets', 'shop', { metadata: { name: 's' } });
  const moved = api.store.resourceVersion;
  await new Promise((r) => setTimeout(r, 150));
  const lists = () => api.requests.filter((r) => r.method === 'GET' && r.path.startsWith(collectionPath('shop')) && !r.path.includes('watch=')).length;
  const listedBefore = lists();
  api.watches.endAll();
  await until(() => api.requests.some((r) => r.path.includes(`watch=true`) && r.path.includes(`resourceVersion=${moved}`)), 5000, 'a watch from the bookmark');
  t.equal(lists(), listedBefore, 'a stream the server ended is watched again from the last bookmark, without a list');
  t.equal(watch.state, 'synced');

  // History compacted: the watch from an old resourceVersion gets 410 Gone, and the watcher lists again.
  const listed = lists();
  // Ended, then (before the client is back) a write and a compaction: its resourceVersion is history now.
  api.watches.endAll();
  createFaultPolicy(api, 'shop', 'd', spec);
  api.store.compact();
  await until(() => lists() > listed && names() === 'b,d', 5000, 'a relist after 410');
  t.pass('410 Gone: listed again, nothing lost');

  api.mode = 'unavailable';
  api.watches.dropAll();
  await until(() => watch.state === 'stale' && /unavailable/.test(String(watch.lastError)), 5000, 'stale');
  t.match(watch.lastError, /the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ is unavailable \(503/);
  t.equal(names(), 'b,d', 'the last good items stay');
  api.mode = 'up';
  await until(() => watch.state === 'synced', 15_000, 'synced again');
  t.equal(states[0], 'synced');
  t.match(states.slice(1, -1), [/^stale: /], 'stale while it could not be reached');
  t.ok(states.slice(1, -1).every((s) => s.startsWith('stale: ')));
  t.equal(states.at(-1), 'synced', 'then in sync again');
});

t.test('a credential without list is stale with the API server\'s words, and retried with backoff', async (t) => {
  const api = await faultPolicyApi(t);
  const kubeconfig = api.addUser('no-list', 'system:serviceaccount:shop:default', [{ verbs: ['get'], resources: ['faultpolicies'] }]);
  const watch = new CollectionWatch({ api: await ApiClient.fromKubeconfig(kubeconfig), path: collectionPath('shop'), onChange: () => undefined, random: () => 0 });
  watch.start();
  t.teardown(() => watch.stop());
  await until(() => watch.state === 'stale', 5000, 'stale');
  t.match(watch.lastError, /forbidden: faultpolicies is forbidden: User "system:serviceaccount:shop:default" cannot list resource "faultpolicies" in API group "faultline.dev" in the namespace "shop"/);
  await new Promise((r) => setTimeout(r, 700));
  const tries = api.requests.filter((r) => r.user === 'system:serviceaccount:shop:default').length;
  t.ok(tries >= 2 && tries <= 4, `retried with backoff (${tries} tries in ~0.7 s: 100 ms, 200 ms, 400 ms...)`);
});

t.test('ApiClient: in-cluster needs the service env; errors are one line', async (t) => {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  delete process.env.KUBERNETES_SERVICE_HOST;
  await t.rejects(ApiClient.inCluster('/nonexistent'), { code: 'FL_ERR_USAGE', message: /not in a pod: KUBERNETES_SERVICE_HOST/ });
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '1';
  const client = await ApiClient.inCluster('/nonexistent');
  t.equal(client.server, 'https://127.0.0.1:1');
  await t.rejects(client.json('GET', '/api'), { code: 'FL_ERR_KUBE_API' }, 'an unreadable token or CA is a KubeApiError-like failure, not a crash');
  if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
  else process.env.KUBERNETES_SERVICE_HOST = saved.host;
  if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
  else process.env.KUBERNETES_SERVICE_PORT = saved.port;
  await t.rejects(ApiClient.fromKubeconfig('/nonexistent/kubeconfig'), { code: 'FL_ERR_USAGE', message: /cannot load the kubeconfig/ });
});
