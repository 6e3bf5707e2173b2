import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';
import { Agent, request } from 'undici';
import { Metrics } from '../../src/metrics.js';
import type { Allocation } from '../../src/proxy/debug.js';
import { Sidecar } from '../../src/sidecar.js';
import { httpUpstream } from '../helpers/http.js';
import { dial, echoServer, roundTrip, waitFor } from '../helpers/net.js';

// What a connection builds beyond a plain pipe is counted through the debug hook (the
// 'faultline:connection:allocate' diagnostics channel), not timed.

/** Counts every allocation published while the test runs, per kind. */
function countAllocations(t: Test): Record<Allocation, number> {
  const counts: Record<Allocation, number> = { stage: 0, links: 0, inspector: 0, logger: 0, plan: 0 };
  const onMessage = (message: unknown) => counts[(message as { kind: Allocation }).kind]++;
  subscribe('faultline:connection:allocate', onMessage);
  t.teardown(() => void unsubscribe('faultline:connection:allocate', onMessage));
  return counts;
}

/** Child loggers made for connections, counted by pino itself (whatever the hook says). */
const connectionLoggers = { count: 0 };

async function sidecarFor(t: Test, upstream: number, rules: Record<string, unknown>[], level = 'info'): Promise<{ sidecar: Sidecar; port: number }> {
  // Lines at `level` and above are on (and go nowhere): the close line is written.
  const onChild = (child: pino.Logger) => void ('conn' in child.bindings() && connectionLoggers.count++);
  const sidecar = new Sidecar({ log: pino({ level, onChild }, { write: () => {} }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  t.teardown(() => sidecar.drain(100));
  await sidecar.setOverlay({ listeners: [{ name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream}` }], rules });
  return { sidecar, port: sidecar.address('up').port };
}

t.test('a plain connection allocates no stage, no link, no inspector, no child logger and no fault plan', async (t) => {
  const { port: echo } = await echoServer(t);
  // A rule that matches other ports: the engine is asked, nothing applies.
  const { sidecar, port } = await sidecarFor(t, echo, [{ name: 'elsewhere', match: { ports: [1] }, faults: [{ type: 'latency', latency: 100 }] }]);
  const counts = countAllocations(t);
  const loggersBefore = connectionLoggers.count;
  for (let i = 0; i < 5; i++) {
    const socket = await dial(t, port);
    await roundTrip(socket, 100);
    socket.end();
  }
  t.ok(await waitFor(() => sidecar.connections.size === 0), 'the five connections closed (and wrote their close lines)');
  t.same(counts, { stage: 0, links: 0, inspector: 0, logger: 0, plan: 0 });
  t.equal(connectionLoggers.count, loggersBefore, 'pino made no child logger for them either');
});

t.test('each is built when needed: a fault its plan, links and stages, an L7 rule its inspector, a debug line its logger', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar, port } = await sidecarFor(t, echo, []);
  const counts = countAllocations(t);
  const socket = await dial(t, port);
  await roundTrip(socket, 10);
  t.same(counts, { stage: 0, links: 0, inspector: 0, logger: 0, plan: 0 }, 'plain while no rule applies');

  // A fault arrives on the live connection: its plan at once; a latency stage acts only on
  // bytes, so each direction gets its stage with its next bytes.
  await sidecar.setOverlay({ listeners: [{ name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }], rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1, stream: 'both' }] }] });
  t.equal(counts.plan, 1, 'one fault plan');
  t.equal(counts.links, 1, 'its links, to rewire both directions');
  t.equal(counts.stage, 0, 'no stage while the connection is idle');
  t.ok((await roundTrip(socket, 10)) >= 1, 'the fault acts on the next bytes');
  t.equal(counts.stage, 2, 'a stage per direction, made with them');
  t.equal(counts.inspector + counts.logger, 0, 'no inspector, no logger');
  socket.destroy();

  // An L7 rule: a new connection is inspected.
  const { port: web } = await httpUpstream(t);
  const l7 = await sidecarFor(t, web, [{ name: 'l7', match: { listener: 'up', http: { paths: ['/never'] } }, faults: [{ type: 'http_abort', status: 500 }] }]);
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  await (await request(`http://127.0.0.1:${l7.port}/x`, { dispatcher: agent })).body.dump();
  t.equal(counts.inspector, 1, 'an inspector for the connection an L7 rule could apply to');

  // Debug lines on: a connection's own logger, the first time it writes one.
  const verbose = await sidecarFor(t, echo, [], 'debug');
  const before = counts.logger;
  const client = await dial(t, verbose.port);
  await roundTrip(client, 10);
  t.equal(counts.logger, before, 'not before it has something to say');
  client.resetAndDestroy();
  t.ok(await waitFor(() => counts.logger === before + 1), 'its socket error is a debug line of its logger');
  t.ok(connectionLoggers.count > 0, 'which pino made');
});
