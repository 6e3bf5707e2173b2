import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { validateExperiment } from '../../src/experiments/load.js';
import { renderHtml } from '../../src/experiments/report-html.js';
import { ExperimentRunner } from '../../src/experiments/runner.js';
import { createTarget } from '../../src/experiments/targets/index.js';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { faultPolicyApi } from '../helpers/faultpolicy.js';
import { kubeApi, type KubeApi } from '../helpers/kube-api.js';
import { echoServer } from '../helpers/net.js';
import { tempDir } from '../helpers/sidecar.js';

/** An experiment against the namespace shop of `api`, its probe a TCP connect to a local echo server. */
function experiment(api: KubeApi, probe: number, method: unknown[], target: Record<string, unknown> = {}) {
  const checked = validateExperiment({
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'gameday' },
    spec: {
      targets: [{ name: 'shop', kubernetes: { namespace: 'shop', selector: { matchLabels: { app: 'checkout' } }, kubeconfig: api.kubeconfig, ...target } }],
      steadyState: { before: '100ms', after: '100ms', probes: [{ name: 'tcp', tcp: { address: `127.0.0.1:${probe}` }, interval: '50ms' }] },
      method,
    },
  });
  if ('problems' in checked) throw new Error(checked.problems.join('\n'));
  return checked.doc;
}

const ready = (api: KubeApi) => api.store.list('v1/pods', 'shop', 'app=checkout').items.filter((p: any) => p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True')).length;

t.test('podKill and scale against the API server: pods deleted and replaced, a Deployment scaled and back, MTTR in the report', async (t) => {
  const api = await kubeApi(t);
  api.addNamespace('shop');
  api.workloads.addDeployment({ namespace: 'shop', name: 'checkout', labels: { app: 'checkout' }, replicas: 3, readyAfterMs: 300, pod: { sidecar: 'none' } });
  const { port } = await echoServer(t);
  const before = api.store.list('v1/pods', 'shop', 'app=checkout').items.map((p) => p.metadata.name);
  const doc = experiment(api, port, [
    { name: 'kill-two', podKill: { count: 2 } },
    { name: 'scale-down', scale: { deployment: 'checkout', replicas: 1 }, duration: '200ms' },
  ]);
  const report = await new ExperimentRunner({ doc, file: 'gameday.yaml', seed: 1 }).run();
  t.equal(report.verdict.result, 'passed', report.verdict.reason);
  const [kill, scale] = report.kubernetes;
  t.match(kill, { step: 'kill-two', action: 'podKill', target: 'shop', readyBefore: 3, recovered: true, pods: [String, String] });
  t.ok(kill?.pods?.every((p) => before.includes(p)), 'two of the pods there before were deleted');
  t.ok((kill?.mttrMs as number) >= 250 && (kill?.mttrMs as number) < 10_000, `MTTR ${kill?.mttrMs} ms: the replacements were ready after the fake's 300 ms`);
  t.match(scale, { step: 'scale-down', action: 'scale', deployment: 'checkout', from: 3, to: 1, recovered: true });
  t.ok((scale?.mttrMs as number) >= 250, `scaled back: ${scale?.mttrMs} ms until 3 replicas were ready again`);
  t.match(report.mttr, { steps: 2, recovered: 2, meanMs: Number, maxMs: Number });
  const html = renderHtml(report);
  t.match(html, /<table class="kubernetes">[^]*kill-two[^]*podKill[^]*deleted [^]*\d+ ms[^]*scale-down[^]*deployment checkout: 3 → 1 replicas/, 'the HTML page lists the steps with their MTTR');
  t.equal((api.store.get('apps/v1/deployments', 'shop', 'checkout') as any).spec.replicas, 3, 'back to 3 replicas');
  t.equal(ready(api), 3);
  t.ok(api.requests.some((r) => r.method === 'PUT' && r.path.endsWith('/deployments/checkout/scale')), 'through the /scale subresource');
  t.ok(api.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/pods/')).length === 2, 'two pod deletions');
});

t.test('interrupted during a scale step: the rollback scales the Deployment back and says so', async (t) => {
  const api = await kubeApi(t);
  api.addNamespace('shop');
  api.workloads.addDeployment({ namespace: 'shop', name: 'checkout', labels: { app: 'checkout' }, replicas: 2, readyAfterMs: 100, pod: { sidecar: 'none' } });
  const { port } = await echoServer(t);
  const doc = experiment(api, port, [{ name: 'zero', scale: { deployment: 'checkout', replicas: 0 }, duration: '60s' }]);
  const runner = new ExperimentRunner({ doc, file: 'gameday.yaml', seed: 1, onEvent: (e) => void (/scaled 2 → 0/.test(e.message) && runner.interrupt('interrupted by SIGINT')) });
  const report = await runner.run();
  t.match(report.verdict, { result: 'aborted', reason: 'interrupted by SIGINT' });
  t.match(report.rollback, { completed: true, targets: [{ target: 'shop', restored: 'deployment/checkout to 2 replicas' }] });
  t.equal((api.store.get('apps/v1/deployments', 'shop', 'checkout') as any).spec.replicas, 2, 'scaled back');
  t.equal(ready(api), 2, 'and its pods ready again before the report');
});

t.test('via faultpolicy: the rules as one FaultPolicy object with expiresAt, deleted with the last rule', async (t) => {
  const api = await faultPolicyApi(t);
  const target = await createTarget({ name: 'shop', kubernetes: { namespace: 'shop', selector: { matchLabels: { app: 'shop' } }, mode: 'fixed-percent', value: 50, via: 'faultpolicy', kubeconfig: api.kubeconfig } }, 'gameday');
  t.equal(target.location, 'faultpolicy shop/exp-gameday-shop');
  const expiresAt = new Date(Date.now() + 60_000);
  await target.apply([{ name: 'exp.gameday.slow', faults: [{ type: 'latency', latency: '20ms' }] }], expiresAt);
  await target.apply([{ name: 'exp.gameday.cut', faults: [{ type: 'reset' }] }], expiresAt);
  const object = api.store.get(RESOURCE, 'shop', 'exp-gameday-shop') as any;
  t.match(object.spec, { selector: { matchLabels: { app: 'shop' } }, mode: 'fixed-percent', value: 50, expiresAt: expiresAt.toISOString() });
  t.same(await target.list('exp.gameday.'), ['exp.gameday.slow', 'exp.gameday.cut']);
  await target.remove(['exp.gameday.slow']);
  t.same(await target.list('exp.gameday.'), ['exp.gameday.cut']);
  await target.remove(['exp.gameday.cut']);
  t.throws(() => api.store.get(RESOURCE, 'shop', 'exp-gameday-shop'), /not found/, 'the last rule gone: the object is deleted');
  t.same(await target.list('exp.gameday.'), []);
});

t.test('experiment files: kubernetes targets and podKill/scale steps are checked', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x'), '');
  const check = (targets: unknown[], method: unknown[]) => {
    const result = validateExperiment({ apiVersion: 'faultline.dev/v1alpha1', kind: 'Experiment', metadata: { name: 'x' }, spec: { targets, steadyState: { probes: [{ name: 'p', tcp: { address: '127.0.0.1:1' } }] }, method } });
    return 'problems' in result ? result.problems : [];
  };
  const k = { name: 'k', kubernetes: { namespace: 'shop' } };
  t.same(check([k], [{ podKill: { count: 1 } }]), [], 'the only kubernetes target is implied');
  t.match(check([{ name: 'a', admin: { url: 'http://127.0.0.1:1' } }], [{ podKill: { count: 1 } }]), [/podKill needs a kubernetes target/]);
  t.match(check([k], [{ scale: { deployment: 'd', replicas: 0, target: 'nope' } }]), [/no kubernetes target named "nope"/]);
  t.match(check([k], [{ podKill: { count: 1 }, duration: '1s' }]), [/a podKill step applies no rule/]);
  t.match(check([{ name: 'b', kubernetes: {}, admin: { url: 'http://127.0.0.1:1' } }], [{ wait: '1s' }]), [/a target is one of admin, configMap and kubernetes/]);
  t.match(check([{ name: 'c', kubernetes: { mode: 'most' } }], [{ wait: '1s' }]), [/spec\.targets\.0\.kubernetes\.mode/]);
});
