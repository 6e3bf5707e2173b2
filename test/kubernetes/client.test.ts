import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Kube } from '../../src/kubernetes/client.js';
import { kubeApi } from '../helpers/kube-api.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('the kubeconfig: where it comes from, and what a bad one says', async (t) => {
  const api = await kubeApi(t);
  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  t.equal(kube.namespace, 'shop', 'the context\'s namespace');
  t.equal((await Kube.load({ kubeconfig: api.kubeconfig, namespace: 'pay' })).namespace, 'pay', '-n wins');
  t.equal((await Kube.load({ kubeconfig: api.kubeconfig, context: 'other' })).namespace, 'elsewhere', '--context');

  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  t.teardown(() => Object.assign(process.env, saved));
  process.env.KUBECONFIG = api.kubeconfig;
  t.equal((await Kube.load()).server, api.url, '$KUBECONFIG');
  delete process.env.KUBECONFIG;
  process.env.HOME = tempDir(t);
  await t.rejects(Kube.load(), { code: 'FL_ERR_USAGE', message: /no kubeconfig: give --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/ });

  const dir = tempDir(t);
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
  await t.rejects(Kube.load({ kubeconfig: plain }), { code: 'FL_ERR_USAGE', message: /is plain HTTP/ }, 'plain HTTP without insecure-skip-tls-verify is refused up front');
  const broken = join(dir, 'broken');
  writeFileSync(broken, 'clusters: [');
  await t.rejects(Kube.load({ kubeconfig: broken }), { code: 'FL_ERR_USAGE', message: /cannot load the kubeconfig/ });
  const orphan = join(dir, 'orphan');
  writeFileSync(orphan, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: [{name: x, context: {cluster: none, user: none}}]\ncurrent-context: x\n');
  await t.rejects(Kube.load({ kubeconfig: orphan }), { code: 'FL_ERR_USAGE', message: /context "x" names no cluster/ });
});

t.test('failures are one line each: unreachable, 503, and a raw request to a server gone', async (t) => {
  const api = await kubeApi(t);
  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  api.mode = 'closed';
  await t.rejects(kube.call('get namespace shop', (core) => core.readNamespace({ name: 'shop' })), { code: 'FL_ERR_KUBE_API', status: 0, message: /^cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+: / });
  await t.rejects(kube.request('GET', '/api/v1/namespaces'), { code: 'FL_ERR_KUBE_API', status: 0 });
  api.mode = 'unavailable';
  const raw = await kube.request('GET', '/api/v1/namespaces');
  t.equal(raw.status, 503, 'a raw answer comes back as it is');
  await t.rejects(kube.call('list namespaces', (core) => core.listNamespace()), { status: 503, message: /is unavailable \(503: the server is currently unable to handle the request\)/ });
  api.mode = 'up';
  await t.rejects(kube.call('get namespace nope', (core) => core.readNamespace({ name: 'nope' })), { status: 404, message: 'get namespace nope: 404 namespaces "nope" not found' });
});
