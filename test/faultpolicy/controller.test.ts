import t from 'tap';
import { pino } from 'pino';
import { ApiClient } from '../../src/faultpolicy/api.js';
import { FaultPolicyController } from '../../src/faultpolicy/controller.js';
import { faultPolicyCrd } from '../../src/faultpolicy/crd.js';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { createFaultPolicy, faultPolicyApi, inProcessPod, printerTable, until } from '../helpers/faultpolicy.js';

const slow = { rules: [{ name: 'slow', faults: [{ type: 'latency', latency: '50ms' }] }] };

t.test('the controller keeps status: selected and applied pods, per-pod hash and error, observedGeneration, conditions', async (t) => {
  const api = await faultPolicyApi(t);
  const pods = await Promise.all(['shop-0', 'shop-1', 'shop-2'].map((name) => inProcessPod(t, api, name, { app: 'shop' })));
  // A pod the selector matches whose sidecar cannot be reached: selected, never applied, and said why.
  api.addPod({ namespace: 'shop', name: 'shop-3', labels: { app: 'shop' }, annotations: { 'faultline.dev/status': '{}' } });
  api.addPod({ namespace: 'shop', name: 'web-0', labels: { app: 'web' } });
  const urls = new Map(pods.map((p) => [p.name, p.metricsUrl]));
  const controller = new FaultPolicyController({ api: await ApiClient.fromKubeconfig(api.kubeconfig), log: pino({ level: 'silent' }), podUrl: (pod) => urls.get(pod.name), resyncMs: 200 });
  controller.start();
  t.teardown(() => controller.stop());

  createFaultPolicy(api, 'shop', 'everywhere', { selector: { matchLabels: { app: 'shop' } }, ...slow });
  createFaultPolicy(api, 'shop', 'one-pod', { selector: { matchLabels: { app: 'shop' } }, mode: 'one', rules: [{ name: 'cut', faults: [{ type: 'reset' }] }] });
  createFaultPolicy(api, 'shop', 'bad', { rules: [{ name: 'b', faults: [{ type: 'bandwidth', rate: 'fast' }] }] });
  const get = (name: string) => api.store.get(RESOURCE, 'shop', name) as any;
  await until(() => get('everywhere').status?.appliedPods === 3 && get('one-pod').status?.appliedPods >= 0 && get('bad').status !== undefined, 15_000, 'the statuses');
  await until(() => get('one-pod').status?.appliedPods + (get('one-pod').status?.pods.some((p: any) => p.name === 'shop-3') ? 1 : 0) === 1, 15_000, 'one-pod applied');

  const everywhere = get('everywhere').status;
  t.match(everywhere, { observedGeneration: 1, selectedPods: 4, appliedPods: 3 });
  t.same(everywhere.pods.map((p: any) => p.name), ['shop-0', 'shop-1', 'shop-2', 'shop-3'], 'every injected pod app=shop selects it; web-0 does not match');
  t.match(everywhere.pods[0], { name: 'shop-0', hash: /^[0-9a-f]{16}$/, generation: 1 });
  t.notOk('error' in everywhere.pods[0]);
  t.match(everywhere.pods[3], { name: 'shop-3', error: /cannot reach|no pod IP|does not watch/ });
  t.match(everywhere.conditions, [{ type: 'Valid', status: 'True' }, { type: 'Applied', status: 'False', reason: 'Pending', message: '3 of 4 selected pods applied generation 1' }]);
  t.equal(get('one-pod').status.selectedPods, 1, 'mode one: one pod');
  t.match(get('bad').status, { selectedPods: 0, appliedPods: 0, conditions: [{ type: 'Valid', status: 'False', reason: 'InvalidSpec', message: /spec\.rules\[0\]\.faults\[0\]\.rate: invalid rate "fast"/ }, { type: 'Applied', status: 'False' }] });
  for (const pod of pods) {
    t.same(pod.sidecar.policy.rules.map((r) => r.name).filter((n) => n === 'b'), [], `${pod.name}: the invalid object was never applied`);
  }
  const chosen = get('one-pod').status.pods[0].name;
  for (const pod of pods) t.equal(pod.sidecar.policy.rules.some((r) => r.name === 'cut'), pod.name === chosen, `${pod.name}: one-pod applied only where the controller says it is selected`);

  // A spec change bumps the generation; the status follows once the pods applied it.
  const current = get('everywhere');
  api.store.update(RESOURCE, 'shop', 'everywhere', { ...current, spec: { ...current.spec, rules: [{ name: 'slow', faults: [{ type: 'latency', latency: '80ms' }] }] } });
  t.equal(get('everywhere').metadata.generation, 2, 'a spec change bumps metadata.generation');
  await until(() => get('everywhere').status?.observedGeneration === 2 && get('everywhere').status?.appliedPods === 3, 15_000, 'generation 2 applied');
  t.not(get('everywhere').status.pods[0].hash, everywhere.pods[0].hash, 'the pods report the new hash');
  const statusOnly = get('everywhere');
  api.store.patch(RESOURCE, 'shop', 'everywhere', { metadata: { labels: { team: 'sre' } } });
  t.equal(get('everywhere').metadata.generation, statusOnly.metadata.generation, 'a metadata change leaves the generation');

  const table = printerTable(faultPolicyCrd(), ['bad', 'everywhere', 'one-pod'].map(get));
  t.comment(`kubectl get faultpolicies -n shop\n${table}`);
  t.match(table, /^NAME\s+MODE\s+SELECTED\s+APPLIED\s+AGE\n/);
  t.match(table, /\neverywhere\s+all\s+4\s+3\s+\d+s/);
});
