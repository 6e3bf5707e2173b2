import t from 'tap';
import { pino } from 'pino';
import { RuntimeLayers } from '../../src/admin/layers.js';
import { ApiClient } from '../../src/faultpolicy/api.js';
import { FaultPolicyLayer } from '../../src/faultpolicy/layer.js';
import type { FaultPolicyObject } from '../../src/faultpolicy/resource.js';
import { choosePods, selectedCount } from '../../src/faultpolicy/selection.js';
import { listCandidates } from '../../src/faultpolicy/source.js';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { createFaultPolicy, faultPolicyApi, INJECTED } from '../helpers/faultpolicy.js';

const log = pino({ level: 'silent' });
const names = (n: number) => Array.from({ length: n }, (_, i) => `shop-${String(i).padStart(3, '0')}`);

/** Whether pod `name` applies `object`, decided by the sidecar's own code (the layer, listing pods through the API). */
async function decides(api: ApiClient, name: string, labels: Record<string, string>, object: FaultPolicyObject): Promise<boolean> {
  const sidecar = new Sidecar({ log, metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  const layer = new FaultPolicyLayer({ layers: new RuntimeLayers(sidecar), pod: { name, namespace: 'shop', labels: async () => labels }, listPods: (selector) => listCandidates(api, 'shop', selector), log, metrics: sidecar.metrics });
  await layer.update([object]);
  const state = (layer.document().policies as { state: string }[])[0]?.state;
  await sidecar.drain(0);
  return state === 'applied';
}

t.test('100 simulated pods, fixed-percent 30: exactly 30 apply it, each deciding alone, the same 30 after restarts', async (t) => {
  const api = await faultPolicyApi(t);
  const pods = names(100);
  for (const name of pods) api.addPod({ namespace: 'shop', name, labels: { app: 'shop' }, annotations: INJECTED });
  api.addPod({ namespace: 'shop', name: 'plain-0', labels: { app: 'shop' } }); // no sidecar: never a candidate
  const object = createFaultPolicy(api, 'shop', 'thirty', { selector: { matchLabels: { app: 'shop' } }, mode: 'fixed-percent', value: 30, rules: [{ name: 'slow', faults: [{ type: 'latency', latency: '10ms' }] }] }) as unknown as FaultPolicyObject;
  const client = await ApiClient.fromKubeconfig(api.kubeconfig);
  const chosen: string[] = [];
  for (const name of pods) if (await decides(client, name, { app: 'shop' }, object)) chosen.push(name);
  t.equal(chosen.length, 30, 'exactly 30 of the 100 pods apply it');
  // A pod without the injector's annotation has no sidecar, so it is in no sidecar's candidate
  // list (a sidecar always counts itself, being injected by definition: that pod decides nothing).
  const candidates = await listCandidates(client, 'shop', 'app=shop');
  t.same([candidates.length, candidates.some((p) => p.name === 'plain-0')], [100, false], 'a pod without the injector\'s annotation is no candidate');
  const again: string[] = [];
  for (const name of pods) if (await decides(client, name, { app: 'shop' }, object)) again.push(name);
  t.same(again, chosen, 'every pod restarted (its sidecar deciding anew from the same inputs): the same 30');
  const expected = choosePods(String(object.metadata.uid), { mode: 'fixed-percent', value: 30, requirements: [{ key: 'app', operator: '=', values: ['shop'] }] }, pods.map((name) => ({ name, labels: { app: 'shop' } })));
  t.same(chosen, expected, 'what the controller computes with the same function');
  t.comment(`chosen: ${chosen.join(' ')}`);
});

t.test('rendezvous ranking: deterministic, minimal movement when the pod set changes, counts per mode', async (t) => {
  const all = names(50).map((name) => ({ name, labels: { app: 'shop' } }));
  const fixed = { mode: 'fixed' as const, value: 10, requirements: [] };
  const base = choosePods('uid-1', fixed, all);
  t.equal(base.length, 10);
  t.same(choosePods('uid-1', fixed, [...all].reverse()), base, 'the order of the list does not matter');
  t.not(choosePods('uid-2', fixed, all).join(), base.join(), 'another object (uid) ranks the pods anew');
  const unchosen = all.find((p) => !base.includes(p.name)) as { name: string };
  t.same(choosePods('uid-1', fixed, all.filter((p) => p !== unchosen)), base, 'a pod that was not chosen goes: nothing moves');
  const gone = base[0] as string;
  const after = choosePods('uid-1', fixed, all.filter((p) => p.name !== gone));
  t.equal(after.filter((n) => !base.includes(n)).length, 1, 'a chosen pod goes: exactly one other takes its place');
  t.same([selectedCount({ mode: 'all', value: 0 }, 7), selectedCount({ mode: 'one', value: 0 }, 7), selectedCount({ mode: 'one', value: 0 }, 0), selectedCount({ mode: 'fixed', value: 9 }, 7), selectedCount({ mode: 'fixed-percent', value: 50 }, 7)], [7, 1, 0, 7, 3], 'all, one, fixed (capped), fixed-percent (rounded down)');
  t.same(choosePods('u', { mode: 'all', value: 0, requirements: [{ key: 'tier', operator: 'in', values: ['web'] }] }, [{ name: 'b', labels: { tier: 'web' } }, { name: 'a', labels: { tier: 'web' } }, { name: 'c', labels: { tier: 'db' } }]), ['a', 'b'], 'labels must match');
});
