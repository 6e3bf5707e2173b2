import t from 'tap';
import { FaultEngine } from '../../src/engine/engine.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { ConnectionMeta } from '../../src/policy/match.js';
import { dial, echoServer, exchange, roundTrip, sleep } from '../helpers/net.js';
import { policyText, startSidecar } from '../helpers/sidecar.js';
import { binomialInterval } from '../helpers/stats.js';

const meta: ConnectionMeta = {
  listener: 'up',
  direction: 'outbound',
  source: { address: '127.0.0.1', port: 40000 },
  destination: { address: '127.0.0.1', port: 6379 },
};

function engineWith(rules: string, extra?: string, clock = () => 1_000_000): FaultEngine {
  const engine = new FaultEngine(clock);
  engine.setPolicy(compilePolicy(policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:6379"}'], rules, extra }), 'test'));
  return engine;
}

t.test('probability 0.3 over 2,000 real connections lands inside the 99.9% binomial interval', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: coin
      match: {listener: up}
      faults: [{type: reset, probability: 0.3}]`);
  let resets = 0;
  let passed = 0;
  for (let batch = 0; batch < 40; batch++) {
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => exchange(t, port, 'x')));
    for (const o of outcomes) {
      if (o.ending === 'ECONNRESET') resets++;
      else if (o.data.toString() === 'x') passed++;
    }
  }
  const [low, high] = binomialInterval(2000, 0.3);
  t.equal(resets + passed, 2000, 'every connection was either reset or echoed');
  t.ok(resets >= low && resets <= high, `${resets} resets in [${low}, ${high}]`);
});

t.test('after/for bound a fault in time on a live connection', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: window
      match: {listener: up}
      faults: [{type: latency, latency: 80ms, after: 300ms, for: 400ms}]`);
  const socket = await dial(t, port);
  t.ok((await roundTrip(socket)) < 40, 'no latency before `after`');
  await sleep(350);
  const during = await roundTrip(socket);
  t.ok(during >= 75 && during < 140, `latency inside the window (${during.toFixed(0)} ms)`);
  await sleep(450);
  t.ok((await roundTrip(socket)) < 40, 'no latency after `after + for`');
});

t.test('enabled: false turns every fault off, live connections included', async (t) => {
  const { port: echo } = await echoServer(t);
  const rules = `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 100ms}]`;
  const { port, write } = await startSidecar(t, echo, rules);
  const socket = await dial(t, port);
  t.ok((await roundTrip(socket)) >= 95, 'the fault applies');
  write(rules, '  enabled: false');
  await sleep(300);
  t.ok((await roundTrip(socket)) < 40, 'off on the live connection');
  t.ok((await exchange(t, port, 'x')).ms < 60, 'and on new ones');
});

t.test('expiresAt: past it, no fault applies; a live connection reverts when it passes', async (t) => {
  const { port: echo } = await echoServer(t);
  const rules = `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 100ms}]`;
  const past = await startSidecar(t, echo, rules, { extra: '  expiresAt: "2020-01-01T00:00:00Z"' });
  t.ok((await exchange(t, past.port, 'x')).ms < 60, 'an expired policy injects nothing');

  const soon = new Date(Date.now() + 600).toISOString();
  const live = await startSidecar(t, echo, rules, { extra: `  expiresAt: "${soon}"` });
  const socket = await dial(t, live.port);
  t.ok((await roundTrip(socket)) >= 95, 'applies before expiry');
  await sleep(700);
  t.ok((await roundTrip(socket)) < 40, 'reverted on the live connection at expiry');
});

t.test('scope: new-connections leaves live connections as they were', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port, write } = await startSidecar(t, echo);
  const before = await dial(t, port);
  write(`    - name: slow-new
      match: {listener: up}
      scope: new-connections
      faults: [{type: latency, latency: 100ms}]`);
  await sleep(300);
  t.ok((await roundTrip(before)) < 40, 'a connection opened before the rule is untouched');
  const after = await dial(t, port);
  t.ok((await roundTrip(after)) >= 95, 'a new connection gets the fault');
  write(undefined);
  await sleep(300);
  t.ok((await roundTrip(after)) >= 95, 'and keeps it when the rule goes away');
});

t.test('the engine decides once per connection and fault', async (t) => {
  let draws = 0;
  const engine = new FaultEngine(() => 1_000_000, () => (draws++, 0.5));
  engine.setPolicy(engineWith(`    - name: half
      match: {listener: up}
      faults: [{type: latency, latency: 10ms, probability: 0.6}]`).policy);
  const state = engine.open(meta);
  for (let i = 0; i < 5; i++) t.equal(engine.plan(state).active.length, 1);
  t.equal(draws, 1, 'one draw, remembered');
  engine.killSwitch = true;
  t.equal(engine.plan(state).active.length, 0, 'the kill switch turns it off');
});

t.test('matching: ports, destinations, sources, direction', async (t) => {
  const cases: [string, boolean][] = [
    ['{ports: [6379]}', true],
    ['{ports: [80, 443]}', false],
    ['{destinations: ["127.0.0.0/8"]}', true],
    ['{destinations: ["127.0.0.1:6379"]}', true],
    ['{destinations: ["127.0.0.1:6380"]}', false],
    ['{sources: ["10.0.0.0/8"]}', false],
    ['{direction: inbound}', false],
    ['{direction: outbound, listener: up}', true],
  ];
  for (const [match, expected] of cases) {
    const engine = engineWith(`    - name: m
      match: ${match}
      faults: [{type: latency, latency: 10ms}]`);
    t.equal(engine.plan(engine.open(meta)).active.length === 1, expected, match);
  }
});
