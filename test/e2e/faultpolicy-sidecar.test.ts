import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { createFaultPolicy, faultPolicyApi, INJECTED, watchingSidecar } from '../helpers/faultpolicy.js';
import { echoServer } from '../helpers/net.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Whether a connection through the listener is refused (closed at once, no echo). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('ping'));
    socket.once('data', () => (socket.destroy(), resolve(false)));
    socket.once('close', () => resolve(true));
    socket.once('error', () => resolve(true));
  });
}

t.test('a real sidecar applies a FaultPolicy within a second of the watch event, and removes it within a second of deletion', async (t) => {
  const api = await faultPolicyApi(t);
  const { port: upstream } = await echoServer(t);
  api.addPod({ namespace: 'shop', name: 'shop-0', labels: { app: 'shop' }, annotations: INJECTED });
  const { daemon, port } = await watchingSidecar(t, api, 'shop-0', { app: 'shop' }, upstream);
  const appliedLine = (from: number, has: boolean, name: string) => daemon.waitForLine((l) => l.msg === 'FaultPolicy objects applied' && daemon.lines.indexOf(l) >= from && (l.applied as string[]).includes(name) === has, 10_000);
  const apply: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < 10; i++) {
    const name = `refuse-${i}`;
    let from = daemon.lines.length;
    const created = Date.now();
    createFaultPolicy(api, 'shop', name, { selector: { matchLabels: { app: 'shop' } }, rules: [{ name: `no-${i}`, match: { listener: 'up' }, faults: [{ type: 'refuse' }] }] });
    apply.push(Date.parse(String((await appliedLine(from, true, name)).time)) - created);
    if (i === 0) t.ok(await refused(port), 'its fault is in force: the connection is refused');
    from = daemon.lines.length;
    const deleted = Date.now();
    api.store.delete(RESOURCE, 'shop', name);
    remove.push(Date.parse(String((await appliedLine(from, false, name)).time)) - deleted);
    if (i === 0) t.notOk(await refused(port), 'deleted: connections go through again');
  }
  t.comment(`watch-to-effect ms: median ${median(apply)}, max ${Math.max(...apply)} (${apply.join(', ')})`);
  t.comment(`delete-to-removal ms: median ${median(remove)}, max ${Math.max(...remove)} (${remove.join(', ')})`);
  t.ok(Math.max(...apply) < 1000, `applied within 1 s of the event every time (max ${Math.max(...apply)} ms)`);
  t.ok(Math.max(...remove) < 1000, `removed within 1 s of the deletion every time (max ${Math.max(...remove)} ms)`);
});

t.test('an invalid object is never applied and is reported; a policy for other pods is not applied here', async (t) => {
  const api = await faultPolicyApi(t);
  const { port: upstream } = await echoServer(t);
  const { daemon, port, admin, metrics } = await watchingSidecar(t, api, 'shop-0', { app: 'shop' }, upstream);
  // The schema cannot see a fault type's own fields: the API server takes it, the sidecar refuses it.
  createFaultPolicy(api, 'shop', 'bad', { rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 'soon' }] }] });
  createFaultPolicy(api, 'shop', 'other', { selector: { matchLabels: { app: 'pay' } }, rules: [{ name: 'pay', match: { listener: 'up' }, faults: [{ type: 'refuse' }] }] });
  createFaultPolicy(api, 'shop', 'good', { rules: [{ name: 'cap', match: { listener: 'up' }, faults: [{ type: 'bandwidth', rate: '1MiB/s' }] }] });
  await daemon.waitForLine((l) => l.msg === 'FaultPolicy objects applied' && (l.applied as string[]).includes('good'));
  const doc = (await (await request(`http://127.0.0.1:${metrics}/faultpolicies`)).body.json()) as { policies: { name: string; state: string; error?: string; generation: number }[] };
  t.match(doc.policies, [
    { name: 'bad', state: 'invalid', error: /spec\.rules\[0\]\.faults\[0\]\.latency: invalid duration "soon"/ },
    { name: 'good', state: 'applied', generation: 1 },
    { name: 'other', state: 'not-selected' },
  ]);
  const policy = (await (await request(`http://127.0.0.1:${admin}/policy`)).body.json()) as { rules: { name: string; layer: string }[]; faultPolicies: { watch: { state: string } } };
  t.same(policy.rules.map((r) => `${r.name}:${r.layer}`), ['cap:faultpolicy'], 'only the good one is in force, as a faultpolicy rule');
  t.equal(policy.faultPolicies.watch.state, 'synced');
  t.notOk(await refused(port), 'the policy for app=pay does not apply to this pod');

  // The API server goes away: the last good set stays, and GET /policy and the metric say so.
  api.mode = 'closed';
  api.watches.dropAll();
  await daemon.waitForLine((l) => /cannot be reached; keeping the last good/.test(String(l.msg)));
  const stale = (await (await request(`http://127.0.0.1:${admin}/policy`)).body.json()) as typeof policy & { faultPolicies: { watch: { state: string; keepingLastGood: boolean; lastError: string } } };
  t.match(stale.faultPolicies.watch, { state: 'stale', keepingLastGood: true, lastError: /./ });
  t.same(stale.rules.map((r) => r.name), ['cap'], 'the rules stay');
  const text = await (await request(`http://127.0.0.1:${metrics}/metrics`)).body.text();
  t.match(text, /^faultline_faultpolicy_watch_up 0$/m);
  t.match(text, /^faultline_faultpolicies\{state="invalid"\} 1$/m);
  api.mode = 'up';
  await daemon.waitForLine((l) => l.msg === 'FaultPolicy watch: in sync' && daemon.lines.indexOf(l) > daemon.lines.findIndex((x) => /keeping the last good/.test(String(x.msg))), 30_000);
  t.pass('back in sync once the API server answers again');
});
