import { pino } from 'pino';
import t from 'tap';
import { parse } from 'yaml';
import { loadExperiment } from '../../src/experiments/load.js';
import { ExperimentRunner } from '../../src/experiments/runner.js';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { httpUpstream } from '../helpers/http.js';
import { kubeApi, putConfigMap } from '../helpers/kube-api.js';
import { ConfigMapVolume } from '../helpers/kubelet.js';
import { tempDir } from '../helpers/sidecar.js';
import { yamlOf } from '../helpers/experiment.js';

const policy = (app: number) => `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata:
  name: shop
spec:
  listeners:
    - {name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${app}"}
  rules:
    # the team's own rule: the experiment must leave it (and this comment) alone
    - name: team-rule
      match: {listener: up, ports: [1]}
      faults: [{type: latency, latency: 1ms}]
`;

const experiment = (kubeconfig: string, port: number, name = 'faultline-policy') => ({
  apiVersion: 'faultline.dev/v1alpha1',
  kind: 'Experiment',
  metadata: { name: 'cm' },
  spec: {
    targets: [{ name: 'shop', configMap: { name, kubeconfig } }],
    steadyState: { before: '300ms', after: '300ms', probes: [{ name: 'shop', http: { url: `http://127.0.0.1:${port}/` }, interval: '25ms', maxLatency: '1s' }] },
    method: [{ name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '60ms' }] }], duration: '600ms' }],
  },
});

t.test('a ConfigMap target: rules added with expiresAt through the Kubernetes API, the team\'s rules kept, all rolled back', async (t) => {
  const { port: app } = await httpUpstream(t);
  const api = await kubeApi(t);
  putConfigMap(api, 'shop', 'faultline-policy', { 'policy.yaml': policy(app), other: 'kept' });
  // The kubelet's part: every update lands in the pod's volume, where the sidecar reloads it.
  const volume = new ConfigMapVolume(tempDir(t));
  volume.write(policy(app));
  api.onUpdate = (cm) => volume.write(cm.data['policy.yaml'] as string);
  const sidecar = new Sidecar({ policyFile: volume.file, pollIntervalMs: 20, log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  t.teardown(() => sidecar.drain(100));
  api.conflictOnce = true;

  const doc = loadExperiment(yamlOf(experiment(api.kubeconfig, sidecar.address('up').port)), 'e.yaml');
  const report = await new ExperimentRunner({ doc, file: 'e.yaml', seed: 1 }).run();
  t.equal(report.verdict.result, 'passed', `${report.verdict.reason}; failed samples: ${JSON.stringify(report.samples.filter((x) => !x.ok))}`);
  t.ok((report.probes[0]?.during.p50 as number) >= 60, `the sidecar applied the rule from the ConfigMap (p50 during ${report.probes[0]?.during.p50} ms)`);

  const puts = api.requests.filter((r) => r.method === 'PUT');
  t.ok(api.requests.every((r) => r.auth === 'Bearer kube-token-abc' && r.path.startsWith('/api/v1/namespaces/shop/configmaps/faultline-policy')), 'token and namespace from the kubeconfig');
  t.equal(puts[0]?.contentType, 'application/json');
  t.equal(api.requests.filter((r) => r.method === 'PUT').length, 3, 'add (refused once with 409, then again from a fresh read), remove');
  const added = parse(puts[1]?.body.data['policy.yaml']);
  t.same(added.spec.rules.map((r: { name: string }) => r.name), ['team-rule', 'exp.cm.slow']);
  const expiresAt = Date.parse(added.spec.rules[1].expiresAt);
  t.ok(expiresAt > Date.parse(report.startedAt) && expiresAt < Date.now() + 60_000, 'the rule expires by itself (step end + grace)');
  t.equal(added.spec.rules[0].expiresAt, undefined, 'the team\'s rule gets no expiresAt');
  t.equal(puts[1]?.body.data.other, 'kept', 'other keys kept');
  t.equal(puts[1]?.body.metadata.resourceVersion, '1001', 'the retried PUT carries the resourceVersion it read again');

  const final = api.configMaps.get('shop/faultline-policy');
  t.equal(final?.data['policy.yaml'], policy(app), 'rolled back to the text it had, comment included');
  t.ok(final?.data['policy.yaml']?.includes('# the team\'s own rule'), 'the comment survived');
  t.equal(report.rollback.completed, true);
});

t.test('a missing ConfigMap aborts before anything is applied, with the API\'s message', async (t) => {
  const api = await kubeApi(t);
  const doc = loadExperiment(yamlOf(experiment(api.kubeconfig, 9, 'nope')), 'e.yaml');
  const report = await new ExperimentRunner({ doc, file: 'e.yaml', seed: 1 }).run();
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /error: target shop: read configmap shop\/nope \(policy\.yaml\): 404 configmaps "nope" not found/);
  t.equal(api.requests.filter((r) => r.method === 'PUT').length, 0);
});

t.test('a change that would make the policy invalid is never written', async (t) => {
  const api = await kubeApi(t);
  putConfigMap(api, 'shop', 'faultline-policy', { 'policy.yaml': policy(1) });
  const doc = experiment(api.kubeconfig, 9);
  (doc.spec.steadyState.probes[0] as Record<string, unknown>).http = { url: `http://127.0.0.1:${(await httpUpstream(t)).port}/` };
  doc.spec.method[0]!.rules[0]!.match = { listener: 'elsewhere' };
  const report = await new ExperimentRunner({ doc: loadExperiment(yamlOf(doc), 'e.yaml'), file: 'e.yaml', seed: 1 }).run();
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /the policy would not be valid, nothing written:[^]*no listener named "elsewhere"/);
  t.equal(api.requests.filter((r) => r.method === 'PUT').length, 0);
});
