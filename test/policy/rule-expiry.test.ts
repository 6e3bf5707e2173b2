import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { FaultEngine } from '../../src/engine/engine.js';
import { startAdmin } from '../helpers/admin.js';
import { dial, echoServer, roundTrip, sleep } from '../helpers/net.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:6379"}'];
const meta = { listener: 'up', direction: 'outbound' as const, source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 6379 } };

t.test('a rule past its expiresAt no longer applies; the rest of the policy does', async (t) => {
  let now = Date.parse('2026-11-22T12:00:00Z');
  const engine = new FaultEngine(() => now, () => 0);
  engine.setPolicy(compilePolicy(policyText({ listeners, rules: `    - {name: mine, match: {listener: up}, faults: [{type: latency, latency: 10ms}]}
    - {name: temp, match: {listener: up}, expiresAt: "2026-11-22T12:00:05Z", faults: [{type: bandwidth, rate: 1KiB/s}]}
    - {name: temp-http, match: {listener: up, protocol: http}, expiresAt: "2026-11-22T12:00:05Z", faults: [{type: http_abort}]}` }), 'p.yaml'));
  const state = engine.open(meta);
  const plan = engine.plan(state);
  t.same(plan.active.map((f) => f.rule), ['mine', 'temp']);
  t.equal(plan.nextChangeAt, Date.parse('2026-11-22T12:00:05Z'), 'a live connection re-plans when the rule expires');
  t.same(engine.inspection(meta), { requests: true, sni: false, reconnect: true, handshake: false, terminate: false });
  t.equal(engine.evaluateRequest(state, { protocol: 'http', method: 'GET', path: '/', headers: {} }).length, 1);
  now += 5000;
  t.same(engine.plan(state).active.map((f) => f.rule), ['mine']);
  t.same(engine.inspection(meta), { requests: false, sni: false, reconnect: false, handshake: false, terminate: false });
  t.same(engine.evaluateRequest(state, { protocol: 'http', method: 'GET', path: '/', headers: {} }), []);
  t.equal(engine.faultsEnabled(), true, 'the policy itself has not expired');
});

t.test('a bad rule expiresAt is refused with its position', async (t) => {
  try {
    compilePolicy(policyText({ listeners, rules: '    - {name: r, expiresAt: tomorrow, faults: [{type: refuse}]}' }), 'p.yaml');
    t.fail('compiled');
  } catch (err) {
    t.ok(err instanceof PolicyError);
    t.match((err as PolicyError).lines(), [/^p\.yaml:8:28: spec\.rules\[0\]\.expiresAt: expiresAt must be an RFC 3339 time/]);
  }
});

t.test('a runtime rule with expiresAt leaves live connections by itself', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  const socket = await dial(t, h.port);
  t.ok((await roundTrip(socket)) < 50);
  const expiresAt = new Date(Date.now() + 400).toISOString();
  t.equal((await h.call('POST', '/rules', { body: { name: 'exp', match: { listener: 'up' }, expiresAt, faults: [{ type: 'latency', latency: '150ms' }] } })).status, 201);
  await sleep(50);
  const slow = await roundTrip(socket);
  t.ok(slow >= 140, `the fault applies to the live connection (${slow.toFixed(0)} ms)`);
  await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 30);
  const fast = await roundTrip(socket);
  t.ok(fast < 50, `and is gone after expiresAt without anyone removing it (${fast.toFixed(0)} ms)`);
  t.equal((await h.call('GET', '/rules')).json.rules.length, 1, 'the rule is still listed (it only stopped applying)');
});
