import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret } from 'kubernetes-models/v1/Secret';
import t from 'tap';
import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { Kube } from '../../src/kubernetes/client.js';
import { CredentialProvisioner, PROVISIONED_TTL_MS, rotateCredentials } from '../../src/kubernetes/credentials.js';
import { memoryLog } from '../helpers/admin.js';
import { reviewFixture } from '../helpers/kubernetes.js';
import { kubeApi, type KubeApi } from '../helpers/kube-api.js';
import { cli } from '../helpers/cli.js';
import { startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

const NAMES = ['faultline-admin-view', 'faultline-admin-killswitch', 'faultline-admin-rules'];
const secretsIn = (api: KubeApi, namespace: string) => [...api.store.collection('v1/secrets').values()].filter((s) => s.metadata.namespace === namespace);
const tokenOf = (api: KubeApi, namespace: string, name: string) => Buffer.from(String((api.store.get('v1/secrets', namespace, name) as any).data.token), 'base64').toString();

t.test('the webhook creates the namespace\'s three Secrets when it injects a pod, and never on a dry run', async (t) => {
  const api = await kubeApi(t);
  const dir = tempDir(t);
  const cert = join(dir, 'w.crt');
  const key = join(dir, 'w.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=webhook', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  // The webhook's service account may create Secrets and RoleBindings (to faultline-sidecar), nothing else (its ClusterRole).
  const kubeconfig = api.addUser('webhook-sa-token', 'system:serviceaccount:faultline-system:faultline-webhook', [{ verbs: ['create'], resources: ['secrets', 'rolebindings'] }]);
  const daemon = startDaemon(t, ['webhook', '--tls-cert', cert, '--tls-key', key, '--port', '0', '--host', '127.0.0.1'], { KUBECONFIG: kubeconfig, FAULTLINE_LOG_LEVEL: 'info' });
  const line = await daemon.waitForLine((l) => l.msg === 'listening' && l.component === 'webhook');
  await daemon.waitForLine((l) => /^kubernetes client ready/.test(String(l.msg)), 30_000);
  const dispatcher = new Agent({ connect: { ca: readFileSync(cert) } });
  t.teardown(() => dispatcher.close());
  const review = async (namespace: string, dryRun: boolean) => {
    const body = reviewFixture('pod');
    Object.assign(body.request, { namespace, dryRun });
    (body.request.object.metadata as Record<string, unknown>).namespace = namespace;
    const res = await request(`https://${line.address}/inject`, { method: 'POST', body: JSON.stringify(body), dispatcher });
    return (await res.body.json()) as { response: { allowed: boolean; patch?: string } };
  };

  const dry = await review('preview', true);
  t.ok(dry.response.patch, 'a dry run is still answered with the patch');
  t.same(secretsIn(api, 'preview'), [], 'but creates nothing (sideEffects: NoneOnDryRun)');

  const real = await review('shop', false);
  t.ok(real.response.allowed && real.response.patch);
  const created = secretsIn(api, 'shop');
  t.same(created.map((s) => s.metadata.name).sort(), [...NAMES].sort(), 'the three Secrets exist when the admission is answered');
  for (const secret of created) {
    t.doesNotThrow(() => new Secret(secret as never).validate(), `${secret.metadata.name} validates`);
    t.match(secret, { type: 'Opaque', metadata: { labels: { 'app.kubernetes.io/managed-by': 'faultline', 'faultline.dev/admin-verb': /^(view|killswitch|rules)$/ } } });
    t.match(tokenOf(api, 'shop', secret.metadata.name), /^[0-9a-f]{64}$/, '32 random bytes, hex');
  }
  t.equal(new Set(NAMES.map((n) => tokenOf(api, 'shop', n))).size, 3, 'a token per level');
  t.match(api.store.get('rbac.authorization.k8s.io/v1/rolebindings', 'shop', 'faultline-sidecar-default'), {
    roleRef: { kind: 'ClusterRole', name: 'faultline-sidecar' },
    subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'shop' }],
  }, "the pod's ServiceAccount is bound to faultline-sidecar in its namespace (FaultPolicy objects)");
  const creates = () => api.requests.filter((r) => r.method === 'POST' && r.path.includes('/secrets')).length;
  const before = creates();
  await review('shop', false);
  t.equal(creates(), before, 'the namespace is remembered: the next pod asks nothing');
  t.notOk(daemon.lines.some((l) => JSON.stringify(l).includes(tokenOf(api, 'shop', NAMES[0] as string))), 'no token in the log');
});

t.test('the provisioner: 409 AlreadyExists is success, a failure is logged and retried by the next pod, remembered for a while', async (t) => {
  const api = await kubeApi(t);
  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  const { log, lines } = memoryLog();
  let now = 0;
  const provisioner = new CredentialProvisioner(async () => kube, log, () => now);
  api.mode = 'unavailable';
  await provisioner.ensure('shop');
  t.match(lines.find((l) => l.level === 40), { namespace: 'shop', msg: /not created \(the pod starts anyway/ }, 'a failure is a warning, nothing more');
  api.mode = 'up';
  await Promise.all([provisioner.ensure('shop'), provisioner.ensure('shop')]);
  t.equal(secretsIn(api, 'shop').length, 3, 'the next admission creates them; concurrent ones share the attempt');
  t.equal(api.requests.filter((r) => r.method === 'POST').length, 1 + 3 + 1, 'one refused create (the attempt stops there), then three Secrets and the RoleBinding');
  t.ok(api.store.get('rbac.authorization.k8s.io/v1/rolebindings', 'shop', 'faultline-sidecar-default'));
  await provisioner.ensure('shop', 'checkout');
  t.ok(api.store.get('rbac.authorization.k8s.io/v1/rolebindings', 'shop', 'faultline-sidecar-checkout'), 'another ServiceAccount gets its own RoleBinding');
  api.store.delete('v1/secrets', 'shop', 'faultline-admin-rules');
  await provisioner.ensure('shop');
  t.equal(secretsIn(api, 'shop').length, 2, 'remembered: not asked again at once');
  now += PROVISIONED_TTL_MS + 1;
  await provisioner.ensure('shop');
  t.equal(secretsIn(api, 'shop').length, 3, 'after the TTL, a deleted Secret comes back; the others are kept (409)');
});

t.test('faultline credentials create | rotate | --print', async (t) => {
  const api = await kubeApi(t);
  const created = await cli(['credentials', 'create', '--kubeconfig', api.kubeconfig]);
  t.equal(created.code, 0, created.stderr);
  t.match(created.stdout, /secret\/faultline-admin-view created in shop/, 'the namespace of the context');
  const first = tokenOf(api, 'shop', 'faultline-admin-killswitch');
  const again = await cli(['credentials', 'create', '--kubeconfig', api.kubeconfig]);
  t.match(again.stdout, /secret\/faultline-admin-killswitch kept in shop/, 'existing Secrets are kept');
  t.equal(tokenOf(api, 'shop', 'faultline-admin-killswitch'), first);

  api.store.delete('v1/secrets', 'shop', 'faultline-admin-view');
  const rotated = await cli(['credentials', 'rotate', '-n', 'shop', '--kubeconfig', api.kubeconfig]);
  t.equal(rotated.code, 0, rotated.stderr);
  t.match(rotated.stdout, /faultline-admin-view created[^]*faultline-admin-killswitch rotated/);
  t.not(tokenOf(api, 'shop', 'faultline-admin-killswitch'), first, 'a new token');
  const puts = api.requests.filter((r) => r.method === 'PUT');
  t.ok(puts.every((r) => /^\d+$/.test(r.body.metadata.resourceVersion)), 'replaced with the resourceVersion read');

  const kube = await Kube.load({ kubeconfig: api.kubeconfig });
  api.conflictOnce = true;
  await t.rejects(rotateCredentials(kube, 'shop'), { code: 'FL_ERR_KUBE_API', status: 409 }, 'a concurrent change is a 409, not overwritten');

  const printed = await cli(['credentials', 'create', '--print', '-n', 'pay']);
  t.equal(printed.code, 0);
  const docs = parseAllDocuments(printed.stdout).map((d) => d.toJS());
  t.same(docs.map((d) => [d.kind, d.metadata.namespace, d.metadata.name]), NAMES.map((n) => ['Secret', 'pay', n]));
  t.equal((await cli(['credentials', 'create', '--print'])).code, 2, '--print needs -n');
  t.equal((await cli(['credentials', 'renew'])).code, 2, 'an unknown action is a usage error');
  const viewer = api.addUser('viewer-token', 'viewer', [{ verbs: ['get'], resources: ['secrets'], namespaces: ['shop'] }]);
  const refused = await cli(['credentials', 'rotate', '--kubeconfig', viewer]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^faultline: forbidden: secrets "faultline-admin-view" is forbidden: User "viewer" cannot update resource "secrets" in API group "" in the namespace "shop"\n$/, 'one line naming the resource and verb refused');
  t.equal((await cli(['credentials', 'create', '--kubeconfig', join(tempDir(t), 'none')])).code, 2, 'an unreadable kubeconfig is a usage error');
});
