import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';
import { Agent, request } from 'undici';
import { Metrics } from '../../src/metrics.js';
import { LineBudget } from '../../src/proxy/close-log.js';
import { Sidecar } from '../../src/sidecar.js';
import { memoryLog } from '../helpers/admin.js';
import { httpUpstream } from '../helpers/http.js';
import { dial, echoServer, exchange, roundTrip, waitFor } from '../helpers/net.js';

async function sidecarWith(t: Test, log: pino.Logger, upstream: number, rules: Record<string, unknown>[]): Promise<{ sidecar: Sidecar; port: number }> {
  const sidecar = new Sidecar({ log, metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  t.teardown(() => sidecar.drain(100));
  await sidecar.setOverlay({ listeners: [{ name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream}` }], rules });
  return { sidecar, port: sidecar.address('up').port };
}

t.test('one line per closed connection: totals, the faults that fired, why it ended', async (t) => {
  const { port: echo } = await echoServer(t);
  const { log, lines } = memoryLog();
  const { sidecar, port } = await sidecarWith(t, log, echo, [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1 }] }]);
  t.equal(lines.filter((l) => l.msg === 'policy applied').length, 2, 'one line per policy change (start, overlay)');

  const socket = await dial(t, port);
  await roundTrip(socket, 20);
  const [conn] = sidecar.connections;
  t.match(conn?.describe(), { protocol: 'tcp', bytesUpstream: 20, bytesDownstream: 20, faults: [{ rule: 'slow', fault: 'latency', count: 1, active: true }] });
  socket.end();
  t.ok(await waitFor(() => lines.some((l) => l.msg === 'connection closed')));
  const line = lines.find((l) => l.msg === 'connection closed');
  t.match(line, {
    level: 30,
    conn: conn?.id,
    listener: 'up',
    direction: 'outbound',
    source: /^127\.0\.0\.1:\d+$/,
    destination: `127.0.0.1:${echo}`,
    protocol: 'tcp',
    durationMs: Number,
    bytesUpstream: 20,
    bytesDownstream: 20,
    faults: { 'slow/latency': 1 },
  });
  t.notOk('reason' in (line ?? {}), 'a clean close has no reason');

  await sidecar.setOverlay({ listeners: [{ name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }], rules: [{ name: 'rst', match: { listener: 'up' }, faults: [{ type: 'reset' }] }] });
  t.equal((await exchange(t, port, 'x', { keepOpen: true })).ending, 'ECONNRESET');
  t.ok(await waitFor(() => lines.some((l) => l.msg === 'connection closed' && l.reason === 'reset fault')));
  t.match(lines.findLast((l) => l.msg === 'connection closed'), { faults: { 'rst/reset': 1 }, reason: 'reset fault' });
});

t.test('an inspected connection names its protocol', async (t) => {
  const { port: web } = await httpUpstream(t);
  const { log } = memoryLog();
  const { sidecar, port } = await sidecarWith(t, log, web, [{ name: 'l7', match: { listener: 'up', protocol: 'http', http: { paths: ['/never'] } }, faults: [{ type: 'http_abort', status: 500 }] }]);
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  await (await request(`http://127.0.0.1:${port}/x`, { dispatcher: agent })).body.dump();
  t.same([...sidecar.connections].map((c) => c.protocol), ['http']);
});

t.test('the line budget: a burst, then the rate; suppressed lines are counted', (t) => {
  let now = 0;
  const budget = new LineBudget(2, 2, () => now);
  t.same([budget.take(), budget.take(), budget.take(), budget.take()], [true, true, false, false]);
  t.equal(budget.takeSuppressed(), 2);
  t.equal(budget.takeSuppressed(), 0, 'and reset once read');
  now += 500;
  t.equal(budget.take(), true, 'one line per half second at 2/s');
  t.equal(budget.take(), false);
  now += 10_000;
  t.same([budget.take(), budget.take(), budget.take()], [true, true, false], 'a quiet spell earns the burst back, no more');
  const off = new LineBudget(0);
  t.equal(off.take(), false, 'a rate of 0 writes none');
  t.end();
});

t.test('under load, connection lines are rate-limited and say how many were left out', async (t) => {
  const { port: echo } = await echoServer(t);
  const { log, lines } = memoryLog();
  const { port } = await sidecarWith(t, log, echo, []);
  // The process-wide budget is 100 a second, bursts of 100: 300 connections at once exceed it.
  await Promise.all(Array.from({ length: 300 }, () => exchange(t, port, 'x')));
  t.ok(await waitFor(() => lines.filter((l) => l.msg === 'connection closed').length >= 100));
  const written = lines.filter((l) => l.msg === 'connection closed').length;
  t.ok(written < 300, `${written} lines for 300 connections`);
  await new Promise((r) => setTimeout(r, 100));
  await exchange(t, port, 'x');
  t.ok(await waitFor(() => lines.some((l) => typeof l.suppressed === 'number')), 'a later line carries the number suppressed');
});
