import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { pino } from 'pino';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/kubernetes/inject.js';
import { createWebhookServer } from '../../src/kubernetes/webhook.js';
import { DEFAULT_IMAGE } from '../../src/kubernetes/builders.js';
import { installObjects } from '../../src/kubernetes/install.js';
import { cli } from '../helpers/cli.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const byKind = (objects: KubeObject[], kind: string, name?: string) => objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name)) as unknown as { metadata: { name: string; namespace?: string }; rules: Rule[]; [k: string]: any }[];

t.test('RBAC: exactly what each user level and the webhook need, nothing more', async (t) => {
  const objects = installObjects();
  const role = (name: string) => byKind(objects, 'ClusterRole', name)[0]?.rules;
  const core = (resources: string, verbs: string[], resourceNames?: string[]) => ({ apiGroups: [''], resources: [resources], verbs, ...(resourceNames ? { resourceNames } : {}) });
  t.same(role('faultline-view'), [
    core('pods', ['get', 'list']),
    core('pods/proxy', ['get']),
    core('namespaces', ['get']),
    core('secrets', ['get'], ['faultline-admin-view']),
  ], 'view: pods, GET through the pod proxy, its own Secret');
  t.same(role('faultline-killswitch'), [
    core('pods', ['get', 'list']),
    core('pods/proxy', ['get', 'create', 'delete']),
    core('namespaces', ['get']),
    core('secrets', ['get'], ['faultline-admin-view', 'faultline-admin-killswitch']),
  ], 'killswitch: POST/DELETE through the pod proxy (create/delete), the view and killswitch Secrets');
  t.same(role('faultline-rules'), [
    core('pods', ['get', 'list']),
    core('pods/proxy', ['get', 'create', 'delete']),
    core('namespaces', ['get']),
    core('secrets', ['get'], ['faultline-admin-view', 'faultline-admin-killswitch', 'faultline-admin-rules']),
  ]);
  const rbac = (resources: string, verbs: string[], resourceNames?: string[]) => ({ apiGroups: ['rbac.authorization.k8s.io'], resources: [resources], ...(resourceNames ? { resourceNames } : {}), verbs });
  t.same(role('faultline-webhook'), [core('secrets', ['create']), rbac('rolebindings', ['create']), rbac('clusterroles', ['bind'], ['faultline-sidecar'])], 'the webhook: create Secrets (it reads none), and RoleBindings to faultline-sidecar alone (bind, not its permissions)');
  const fp = (resources: string, verbs: string[]) => ({ apiGroups: ['faultline.dev'], resources: [resources], verbs });
  t.same(role('faultline-sidecar'), [fp('faultpolicies', ['get', 'list', 'watch']), core('pods', ['list'])], 'the sidecars: read FaultPolicy objects, list pods (for one/fixed/fixed-percent); their labels come from the Downward API');
  t.same(role('faultline-controller'), [fp('faultpolicies', ['get', 'list', 'watch']), fp('faultpolicies/status', ['patch']), core('pods', ['list'])], 'the controller: watch FaultPolicies, patch their status, list pods; nothing else');
  t.same(role('faultline-faultpolicy-edit'), [fp('faultpolicies', ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'])], 'people: FaultPolicies with the namespace\'s admin and edit roles (aggregated)');
  t.match(byKind(objects, 'ClusterRole', 'faultline-faultpolicy-view')[0]?.metadata, { labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } });
  t.same(byKind(objects, 'ClusterRoleBinding', 'faultline-controller')[0]?.subjects, [{ kind: 'ServiceAccount', name: 'faultline-controller', namespace: 'faultline-system' }]);
  const binding = byKind(objects, 'ClusterRoleBinding')[0] as any;
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'faultline-webhook', namespace: 'faultline-system' }]);
  t.equal(binding.roleRef.name, 'faultline-webhook');
  t.same(byKind(objects, 'Role'), [], 'no other role');
  t.same(byKind(objects, 'RoleBinding'), [], 'users are bound per namespace by the cluster admin');
  const deployment = byKind(objects, 'Deployment')[0] as any;
  t.same(deployment.spec.template.spec.containers[0].args.slice(-2), ['--default-interception', 'always']);
});

t.test('faultline install flags: image, namespace, interception; bad values exit 2', async (t) => {
  const { code, stdout } = await cli(['install', '--image', 'registry.local/faultline:dev', '--namespace', 'chaos', '--interception', 'on-demand']);
  t.equal(code, 0);
  const objects = parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
  t.ok(objects.every((o) => !o.metadata?.namespace || o.metadata.namespace === 'chaos'), 'every namespaced object in --namespace');
  t.equal(byKind(objects, 'Namespace')[0]?.metadata.name, 'chaos');
  const deployment = byKind(objects, 'Deployment')[0] as any;
  t.equal(deployment.spec.template.spec.containers[0].image, 'registry.local/faultline:dev');
  t.match(deployment.spec.template.spec.containers[0].args.join(' '), '--image registry.local/faultline:dev --default-interception on-demand');
  const config = byKind(objects, 'MutatingWebhookConfiguration')[0] as any;
  t.same(config.webhooks[0].namespaceSelector.matchExpressions[0].values, ['kube-system', 'chaos'], 'its own namespace is never injected');
  t.equal(config.metadata.annotations['cert-manager.io/inject-ca-from'], 'chaos/faultline-webhook');
  for (const args of [['--interception', 'sometimes'], ['--certificates', 'letsencrypt'], ['--namespace', 'Bad_NS'], ['--image', 'a b'], ['--bogus']]) {
    const bad = await cli(['install', ...args]);
    t.equal(bad.code, 2, `${args.join(' ')}: usage error`);
    t.match(bad.stderr, /faultline: |error: unknown option/);
  }
});

t.test('--certificates generate: a CA in caBundle and a serving certificate for the Service that a client trusting it accepts', async (t) => {
  const { code, stdout } = await cli(['install', '--certificates', 'generate', '--namespace', 'chaos']);
  t.equal(code, 0);
  const objects = parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
  t.same(objects.filter((o) => String(o.apiVersion).startsWith('cert-manager.io')), [], 'no cert-manager object');
  const secret = byKind(objects, 'Secret', 'faultline-webhook-tls')[0] as any;
  t.equal(secret.type, 'kubernetes.io/tls');
  const pem = (key: string) => Buffer.from(secret.data[key], 'base64').toString('utf8');
  const config = byKind(objects, 'MutatingWebhookConfiguration')[0] as any;
  t.equal(config.metadata.annotations, undefined, 'no CA injector annotation');
  const caBundle = Buffer.from(config.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8');
  t.equal(caBundle, pem('ca.crt'), 'caBundle is the CA');
  t.equal(config.webhooks[1].clientConfig.caBundle, config.webhooks[0].clientConfig.caBundle);
  const ca = new X509Certificate(caBundle);
  const cert = new X509Certificate(pem('tls.crt'));
  t.ok(ca.ca, 'a CA');
  t.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'the serving certificate is signed by it');
  t.equal(cert.subjectAltName, 'DNS:faultline-webhook.chaos.svc, DNS:faultline-webhook.chaos.svc.cluster.local');
  t.ok(new Date(cert.validTo).getTime() > Date.now() + 300 * 86400_000, 'valid about a year');

  // What the API server does: TLS to the Service name, trusting caBundle only.
  const server = createWebhookServer({ cert: pem('tls.crt'), key: pem('tls.key') }, { image: DEFAULT_IMAGE }, pino({ level: 'silent' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const port = (server.address() as { port: number }).port;
  const handshake = (servername: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, servername, ca: caBundle }, () => {
        socket.end();
        resolve('ok');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  t.equal(await handshake('faultline-webhook.chaos.svc'), 'ok', 'the Service name verifies against caBundle');
  t.equal(await handshake('faultline-webhook.other.svc'), 'ERR_TLS_CERT_ALTNAME_INVALID', 'another name does not');
});
