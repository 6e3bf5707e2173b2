import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_IMAGE, type Container } from '../../src/kubernetes/builders.js';
import { injectObject, podTemplateOf, type KubeObject } from '../../src/kubernetes/inject.js';
import { FIXTURE_NAMES, reviewFixture, validateObject } from '../helpers/kubernetes.js';
import { BIN, runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

const options = { image: DEFAULT_IMAGE };
interface Spec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
  hostNetwork?: boolean;
}
const specOf = (object: KubeObject) => podTemplateOf(object)?.spec as unknown as Spec;
const annotationsOf = (object: KubeObject) => podTemplateOf(object)?.metadata?.annotations ?? {};

t.test('every workload kind: the sidecar, the init container and the policy volume, and a valid object', async (t) => {
  for (const name of FIXTURE_NAMES) {
    const before = reviewFixture(name).request.object;
    const snapshot = structuredClone(before);
    const { object, injected } = injectObject(before, options);
    t.ok(injected, `${name}: injected`);
    t.same(before, snapshot, `${name}: the input is not modified`);
    t.doesNotThrow(() => validateObject(object), `${name}: the result validates against the Kubernetes schema`);
    const spec = specOf(object);
    t.same(spec.containers.map((c) => c.name), ['app', 'faultline'], `${name}: the sidecar is appended`);
    t.same(spec.initContainers?.map((c) => c.name), ['faultline-init']);
    const init = spec.initContainers?.[0] as Container;
    t.same(init.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] }, `${name}: the init container has NET_ADMIN and NET_RAW, nothing else`);
    t.equal(init.securityContext?.privileged, undefined, 'and is not privileged');
    t.same(init.args, ['iptables', '--proxy-uid', '1337', '--inbound-capture-port', '15006', '--outbound-capture-port', '15001', '--inbound-ports', '*', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12']);
    const sidecar = spec.containers[1] as Container;
    t.match(sidecar.securityContext, { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, `${name}: UID/GID 1337, read-only root, no capabilities`);
    t.equal((sidecar.securityContext?.capabilities as { add?: string[] }).add, undefined);
    t.match(sidecar.readinessProbe, { httpGet: { path: '/readyz', port: 15020 } });
    t.match(sidecar.livenessProbe, { httpGet: { path: '/healthz', port: 15020 } });
    t.match(sidecar.resources, { requests: { cpu: String, memory: String }, limits: { memory: String } });
    t.same(sidecar.args, ['sidecar', '--policy', '/etc/faultline/policy.yaml', '--allow-missing-policy', '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '0.0.0.0:15020', '--admin', '0.0.0.0:15000', '--admin-credentials', '/var/run/faultline/admin', '--faultpolicies', '--pod-info', '/var/run/faultline/pod', '--kube-credentials', '/var/run/faultline/kubernetes']);
    t.same(sidecar.volumeMounts, [
      { name: 'faultline-policy', mountPath: '/etc/faultline', readOnly: true },
      { name: 'faultline-admin', mountPath: '/var/run/faultline/admin', readOnly: true },
      { name: 'faultline-pod', mountPath: '/var/run/faultline/pod', readOnly: true },
      { name: 'faultline-kube', mountPath: '/var/run/faultline/kubernetes', readOnly: true },
    ], 'the policy ConfigMap at /etc/faultline/, the credentials, the Downward API and the sidecar\'s own API token, read-only');
    t.match(spec.volumes?.find((v) => v.name === 'faultline-pod'), { downwardAPI: { items: [{ path: 'name' }, { path: 'namespace' }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }, 'its labels from the Downward API: no permission needed');
    t.match(spec.volumes?.find((v) => v.name === 'faultline-kube'), { projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }, { configMap: { name: 'kube-root-ca.crt' } }] } }, 'a projected token for the sidecar alone');
    t.notOk(spec.containers[0]?.volumeMounts?.some((m) => m.name === 'faultline-kube'), 'the app container does not mount it');
    t.same(spec.volumes?.find((v) => v.name === 'faultline-policy'), { name: 'faultline-policy', configMap: { name: 'faultline-policy', optional: true } }, 'the policy volume is optional: a pod never waits for its ConfigMap');
    t.same(spec.volumes?.find((v) => v.name === 'faultline-admin'), {
      name: 'faultline-admin',
      projected: {
        sources: ['view', 'killswitch', 'rules'].map((verb) => ({ secret: { name: `faultline-admin-${verb}`, optional: true, items: [{ key: 'token', path: verb }] } })),
      },
    }, 'the namespace\'s three credential Secrets, each optional, in one projected volume');
    t.notOk(spec.containers[0]?.volumeMounts?.some((m) => m.name === 'faultline-admin'), 'the app container does not mount them');
    t.same(sidecar.ports, [{ name: 'faultline-metrics', containerPort: 15020, protocol: 'TCP' }, { name: 'faultline-admin', containerPort: 15000, protocol: 'TCP' }]);
    t.equal(annotationsOf(object)['kubectl.kubernetes.io/default-container'], 'app', 'kubectl logs still means the app');
    t.match(JSON.parse(annotationsOf(object)['faultline.dev/status'] ?? '{}'), { version: '0.1.0', policy: 'faultline-policy', interception: 'always' });

    const again = injectObject(object, options);
    t.notOk(again.injected, `${name}: injecting twice changes nothing`);
    t.same(again.object, object);
  }
});

t.test('pods that do not ask, and host-network pods, are left alone', async (t) => {
  const plain = reviewFixture('pod').request.object;
  delete plain.metadata?.annotations?.['faultline.dev/inject'];
  const untouched = injectObject(plain, options);
  t.notOk(untouched.injected);
  t.same(untouched.object, plain);
  t.ok(injectObject(plain, options, true).injected, 'unless the namespace asks');

  const host = reviewFixture('pod').request.object;
  (host.spec as { hostNetwork: boolean }).hostNetwork = true;
  const result = injectObject(host, options);
  t.notOk(result.injected, 'a hostNetwork pod would have the node\'s iptables rewritten: never');
  t.match(result.warnings, [/uses hostNetwork; the sidecar is never injected there/]);
  t.same(injectObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }, options).injected, false, 'objects without a pod template pass');
  t.same(injectObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} }, options).injected, false, 'a workload without a template passes');
});

t.test('interception on-demand: no init container; the sidecar starts as root with four capabilities and installs its own rules', async (t) => {
  const pod = reviewFixture('pod').request.object;
  const annotations = pod.metadata?.annotations as Record<string, string>;
  annotations['faultline.dev/interception'] = 'on-demand';
  annotations['faultline.dev/include-inbound-ports'] = '8080';
  const { object, injected } = injectObject(pod, options);
  t.ok(injected);
  t.doesNotThrow(() => validateObject(object), 'the result validates against the Kubernetes schema');
  const spec = specOf(object);
  t.equal(spec.initContainers, undefined, 'no init container: no rule exists until a fault needs one');
  const sidecar = spec.containers[1] as Container;
  t.same(sidecar.args, [
    'sidecar', '--policy', '/etc/faultline/policy.yaml', '--allow-missing-policy',
    '--interception', 'on-demand', '--inbound-port', '15006', '--outbound-port', '15001', '--proxy-uid', '1337',
    '--inbound-ports', '8080', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12',
    '--metrics', '0.0.0.0:15020', '--admin', '0.0.0.0:15000', '--admin-credentials', '/var/run/faultline/admin', '--faultpolicies', '--pod-info', '/var/run/faultline/pod', '--kube-credentials', '/var/run/faultline/kubernetes',
  ], 'the capture listeners, and the same validated capture settings the init container would take');
  t.same(sidecar.securityContext, {
    runAsUser: 0,
    runAsGroup: 0,
    runAsNonRoot: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SETUID', 'SETGID'] },
  }, 'root at start (Kubernetes gives non-root processes no added capability), four capabilities, no escalation, never privileged');
  t.match(sidecar.resources, { requests: { memory: '96Mi' }, limits: { memory: '256Mi' } }, 'its request counts the helper');
  t.match(JSON.parse(annotationsOf(object)['faultline.dev/status'] ?? '{}'), { interception: 'on-demand' });

  annotations['faultline.dev/native-sidecar'] = 'true';
  const native = specOf(injectObject(pod, options).object);
  t.same(native.initContainers?.map((c) => c.name), ['faultline'], 'as a native sidecar: the sidecar alone among the init containers, no faultline-init');
});

t.test('interception none: no init container, no capture, no capability at all', async (t) => {
  const pod = reviewFixture('pod').request.object;
  (pod.metadata?.annotations as Record<string, string>)['faultline.dev/interception'] = 'none';
  const { object, injected } = injectObject(pod, options);
  t.ok(injected);
  t.doesNotThrow(() => validateObject(object));
  const spec = specOf(object);
  t.equal(spec.initContainers, undefined, 'no init container');
  t.same(spec.containers[1]?.args, ['sidecar', '--policy', '/etc/faultline/policy.yaml', '--allow-missing-policy', '--metrics', '0.0.0.0:15020', '--admin', '0.0.0.0:15000', '--admin-credentials', '/var/run/faultline/admin', '--faultpolicies', '--pod-info', '/var/run/faultline/pod', '--kube-credentials', '/var/run/faultline/kubernetes'], 'the sidecar runs the policy\'s listeners only');
  t.notMatch(JSON.stringify(object), /NET_ADMIN/);
  t.match(spec.containers[1]?.securityContext, { runAsUser: 1337, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
});

t.test('native sidecar: first among the init containers, restartPolicy Always, a startup probe', async (t) => {
  const job = reviewFixture('job').request.object;
  t.match(injectObject(job, options).warnings, [/runs to completion.*faultline\.dev\/native-sidecar: "true"/], 'a Job with a regular sidecar is warned about');
  const template = podTemplateOf(job);
  (template?.metadata?.annotations as Record<string, string>)['faultline.dev/native-sidecar'] = 'true';
  (template?.spec as unknown as Spec).initContainers = [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1' }];
  const { object, injected, warnings } = injectObject(job, options);
  t.ok(injected);
  t.same(warnings, []);
  t.doesNotThrow(() => validateObject(object));
  const spec = specOf(object);
  t.same(spec.initContainers?.map((c) => c.name), ['faultline-init', 'faultline', 'migrate'], 'rules, then the proxy, then the app\'s own init containers');
  t.equal(spec.initContainers?.[1]?.restartPolicy, 'Always');
  t.match(spec.initContainers?.[1]?.startupProbe, { httpGet: { path: '/readyz', port: 15020 } });
  t.same(spec.containers.map((c) => c.name), ['app']);
  t.notOk(injectObject(object, options).injected, 'idempotent too');
});

t.test('the app\'s own init containers run before the rules with a regular sidecar', async (t) => {
  const pod = reviewFixture('pod').request.object;
  (pod.spec as unknown as Spec).initContainers = [{ name: 'fetch-config', image: 'curlimages/curl:8.10.1' }];
  (pod.metadata?.annotations as Record<string, string>)['kubectl.kubernetes.io/default-container'] = 'other';
  const { object } = injectObject(pod, options);
  t.same(specOf(object).initContainers?.map((c) => c.name), ['fetch-config', 'faultline-init'], 'nothing listens on 15001 while they run');
  t.equal(annotationsOf(object)['kubectl.kubernetes.io/default-container'], 'other', 'an existing default container is kept');
});

t.test('faultline inject: multi-document YAML, only pod templates that ask for it change', async (t) => {
  const dir = tempDir(t);
  const input = join(dir, 'deploy.yaml');
  const deployment = reviewFixture('deployment').request.object;
  const plain = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain}\nspec:\n  selector: {matchLabels: {app: plain}}\n  template:\n    metadata: {labels: {app: plain}}\n    spec: {containers: [{name: plain, image: nginx}]}\n';
  writeFileSync(input, `# a comment\napiVersion: v1\nkind: Service\nmetadata: {name: checkout}\nspec: {ports: [{port: 80}]}\n---\n${JSON.stringify(deployment)}\n---\n${plain}---\n`);
  const { code, stdout, stderr } = await runCli(['inject', '-f', input]);
  t.equal(code, 0, stderr);
  t.match(stdout, /^# a comment\n/, 'untouched documents keep their text');
  const docs = parseAllDocuments(stdout).map((d) => d.toJS()).filter((d) => d !== null);
  t.equal(docs.length, 3);
  t.equal(docs[0].kind, 'Service');
  t.same(docs[1].spec.template.spec.containers.map((c: { name: string }) => c.name), ['app', 'faultline'], 'the annotated Deployment gets the sidecar');
  t.doesNotThrow(() => validateObject(docs[1]));
  t.same(docs[2].spec.template.spec.containers.map((c: { name: string }) => c.name), ['plain'], 'the other one does not');
  const output = join(dir, 'injected.yaml');
  writeFileSync(output, stdout);
  const twice = await runCli(['inject', '-f', output]);
  t.equal(twice.stdout, stdout, 'injecting the output again changes nothing, byte for byte');

  const list = { apiVersion: 'v1', kind: 'List', items: [deployment, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }] };
  const fromStdin = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'inject', '--image', 'registry.local/faultline:dev'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('close', () => resolve(out));
    child.stdin.end(JSON.stringify(list));
  });
  const [injectedList] = parseAllDocuments(fromStdin).map((d) => d.toJS());
  t.equal(injectedList.items[0].spec.template.spec.containers[1].image, 'registry.local/faultline:dev', 'a List from stdin, with --image');
  t.equal(injectedList.items[1].kind, 'ConfigMap');
});

t.test('faultline inject refuses a bad annotation, naming the object, and warns on stderr', async (t) => {
  const dir = tempDir(t);
  const deployment = reviewFixture('deployment').request.object;
  (podTemplateOf(deployment)?.metadata?.annotations as Record<string, string>)['faultline.dev/exclude-outbound-cidrs'] = '0/0 -j ACCEPT';
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, JSON.stringify(deployment));
  const refused = await runCli(['inject', '-f', bad]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^faultline: Deployment shop\/checkout: annotation faultline\.dev\/exclude-outbound-cidrs: "0\/0 -j ACCEPT" is not a comma-separated list of IPs or CIDRs/m);
  t.equal(refused.stdout, '', 'nothing half-written for kubectl apply');

  const job = reviewFixture('job').request.object;
  (podTemplateOf(job)?.metadata?.annotations as Record<string, string>)['faultline.dev/exclude-outbound-port'] = '5432';
  const typo = join(dir, 'job.yaml');
  writeFileSync(typo, JSON.stringify(job));
  const warned = await runCli(['inject', '-f', typo]);
  t.equal(warned.code, 0);
  t.match(warned.stderr, /unknown annotation faultline\.dev\/exclude-outbound-port ignored/);
  t.match(warned.stderr, /runs to completion/);

  const missing = await runCli(['inject', '-f', join(dir, 'nope.yaml')]);
  t.match(missing.stderr, /-f .*nope\.yaml: cannot read it \(ENOENT\)/);
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'a: [unclosed\n');
  t.match((await runCli(['inject', '-f', broken])).stderr, /invalid YAML/);
});

t.test('a default interception for pods that do not say; the annotation still wins', async (t) => {
  const pod = reviewFixture('pod').request.object;
  const onDemand = injectObject(pod, { ...options, defaultInterception: 'on-demand' });
  t.equal(specOf(onDemand.object).initContainers, undefined, 'on-demand by default: no init container');
  t.match(JSON.parse(annotationsOf(onDemand.object)['faultline.dev/status'] ?? '{}'), { interception: 'on-demand' });
  (pod.metadata?.annotations as Record<string, string>)['faultline.dev/interception'] = 'always';
  t.same(specOf(injectObject(pod, { ...options, defaultInterception: 'on-demand' }).object).initContainers?.map((c) => c.name), ['faultline-init'], 'the pod\'s annotation wins');
});
