import t from 'tap';
import { pino } from 'pino';
import { RuntimeLayers } from '../../src/admin/layers.js';
import { RuntimeRules } from '../../src/admin/rules.js';
import { policyView } from '../../src/admin/views.js';
import { FaultPolicyLayer } from '../../src/faultpolicy/layer.js';
import { parseLabels } from '../../src/faultpolicy/pod-info.js';
import type { FaultPolicyObject } from '../../src/faultpolicy/resource.js';
import { echoServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

const object = (name: string, spec: Record<string, unknown>, uid = `uid-${name}`): FaultPolicyObject => ({ metadata: { name, namespace: 'shop', uid, generation: 1 }, spec });
const latency = (rule: string, ms: number, extra: Record<string, unknown> = {}) => ({ name: rule, match: { listener: 'up' }, faults: [{ type: 'latency', latency: ms }], ...extra });

t.test('merge order: file < FaultPolicy objects (by name) < runtime rules; each object\'s fate reported', async (t) => {
  const { port: upstream } = await echoServer(t);
  const { sidecar, write } = await startSidecar(t, upstream, ['    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 10}]}', '    - {name: keep, match: {listener: up}, faults: [{type: latency, latency: 1}]}'].join('\n'));
  const layers = new RuntimeLayers(sidecar);
  let labels: Record<string, string> = { app: 'shop' };
  const layer = new FaultPolicyLayer({ layers, pod: { name: 'shop-0', namespace: 'shop', labels: async () => labels }, listPods: async () => [{ name: 'shop-0', labels }, { name: 'shop-1', labels }], log: pino({ level: 'silent' }), metrics: sidecar.metrics });
  sidecar.faultPolicies = layer;
  const rule = (name: string) => sidecar.policy.document.spec.rules.find((r) => r.name === name) as { faults: { latency?: unknown }[]; expiresAt?: string } | undefined;
  const until = new Date(Date.now() + 3_600_000).toISOString();
  await layer.update([
    object('b', { rules: [latency('slow', 77)] }),
    object('a', { expiresAt: until, rules: [latency('slow', 99), latency('more', 5)] }),
    object('c-off', { enabled: false, rules: [latency('off', 5)] }),
    object('d-old', { expiresAt: '2020-01-01T00:00:00Z', rules: [latency('old', 5)] }),
    object('e-clash', { listeners: [{ name: 'taken', listen: `127.0.0.1:${upstream}`, upstream: '127.0.0.1:9' }], rules: [] }),
    object('f-pay', { selector: { matchLabels: { app: 'pay' } }, rules: [latency('pay', 5)] }),
  ]);
  t.same(rule('slow')?.faults[0]?.latency, 99, 'a FaultPolicy rule replaces the file\'s of the same name; of two objects, the first by name wins');
  t.equal(rule('more')?.expiresAt, until, "the object's expiresAt bounds its rules");
  t.ok(rule('keep'), 'the file\'s other rules stay');
  const fates = Object.fromEntries((layer.document().policies as { name: string; state: string; notes?: string[]; error?: string }[]).map((p) => [p.name, p]));
  t.match(fates, {
    a: { state: 'applied', hash: /^[0-9a-f]{16}$/ },
    b: { state: 'applied', notes: ['rule slow is also in FaultPolicy a, which wins (the first by name)'] },
    'c-off': { state: 'disabled' },
    'd-old': { state: 'expired' },
    'f-pay': { state: 'not-selected' },
  });
  t.notOk(rule('off') || rule('old') || rule('pay'), 'disabled, expired and unselected objects apply nothing');
  t.match(fates['e-clash'], { state: 'invalid', error: /^does not fit with the policy in force: spec\.listeners\[\d\]\.listen: / }, 'an object that cannot be applied with the rest (its listener cannot bind) is left out, and says why');

  const rules = new RuntimeRules(layers);
  await layers.exclusive(() => rules.put(latency('slow', 5)));
  t.same(rule('slow')?.faults[0]?.latency, 5, 'a runtime rule wins over the FaultPolicy objects');
  const view = policyView(sidecar, layers) as { faultPolicies: { shadowedByRuntimeRules?: string[] }; rules: { name: string; layer: string }[] };
  t.same(view.faultPolicies.shadowedByRuntimeRules, ['slow']);
  t.match(view.rules.map((r) => `${r.name}:${r.layer}`), ['keep:file', 'more:faultpolicy', 'slow:runtime']);
  await layers.exclusive(() => rules.remove('slow'));
  t.same(rule('slow')?.faults[0]?.latency, 99, 'removed: the FaultPolicy rule is back');

  // A file reload keeps the layer; a label change (the Downward API file) is seen at the next evaluation.
  write('    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 11}]}');
  await new Promise((r) => setTimeout(r, 300));
  t.same(rule('slow')?.faults[0]?.latency, 99, 'the file reloaded: the object still wins');
  labels = { app: 'pay' };
  await layer.evaluate();
  t.same(rule('pay')?.faults[0]?.latency, 5, 'relabelled app=pay: f-pay applies');
  t.ok(rule('more'), 'and a, which has no selector (every pod), stays');
});

t.test('the Downward API labels file, as the kubelet writes it', async (t) => {
  t.same(parseLabels('app="shop"\npod-template-hash="7d9f8"\nquote="a \\"b\\""\nbroken\n'), { app: 'shop', 'pod-template-hash': '7d9f8', quote: 'a "b"' });
  t.same(parseLabels(''), {});
});
