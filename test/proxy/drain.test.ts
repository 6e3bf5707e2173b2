import { connect, type Socket } from 'node:net';
import t from 'tap';
import { DRAIN_QUIET_MS } from '../../src/proxy/drain.js';
import { collect, dial, roundTrip, sleep, tcpServer, echoServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

const PAYLOAD = 64 * 1024;

/** An upstream that sends PAYLOAD bytes to each connection and ends it. */
function senderUpstream(t: Parameters<typeof tcpServer>[0]) {
  return tcpServer(t, (socket) => socket.end(Buffer.alloc(PAYLOAD, 7)));
}

t.test('connections waiting in the accept queue at SIGTERM are answered', async (t) => {
  const { port: upstream } = await senderUpstream(t);
  const { sidecar, port } = await startSidecar(t, upstream);
  const clients: Socket[] = [];
  for (let i = 0; i < 200; i++) clients.push(connect({ host: '127.0.0.1', port }));
  t.teardown(() => clients.forEach((c) => c.destroy()));
  const outcomes = clients.map((c) => collect(c));
  // The connects are issued; the kernel completes the handshakes while JavaScript is busy, so
  // the sidecar has accepted none of them yet when the drain starts.
  await new Promise((resolve) => setImmediate(resolve));
  const until = Date.now() + 300;
  while (Date.now() < until);
  const drained = sidecar.drain(5000);
  t.equal(sidecar.ready, false, 'not ready from the start of the drain');
  const results = await Promise.all(outcomes);
  await drained;
  const endings: Record<string, number> = {};
  for (const r of results) endings[`${r.ending} ${r.data.length}`] = (endings[`${r.ending} ${r.data.length}`] ?? 0) + 1;
  t.same(endings, { [`end ${PAYLOAD}`]: 200 }, `all 200 queued clients got their ${PAYLOAD} bytes and a clean end`);
});

t.test('new connections are served during the drain window', async (t) => {
  const { port: upstream } = await echoServer(t);
  const { sidecar, port } = await startSidecar(t, upstream);
  const held = await dial(t, port);
  await roundTrip(held);
  const drained = sidecar.drain(3000);
  await sleep(DRAIN_QUIET_MS * 2);
  const late = await dial(t, port);
  t.ok((await roundTrip(late)) > 0, 'a connection opened during the drain is proxied');
  held.end();
  late.end();
  const started = Date.now();
  await drained;
  t.ok(Date.now() - started < 2000, 'the drain ends early once nothing is live and nothing new comes');
});

t.test('transfers still running at the drain deadline are reset, not ended cleanly', async (t) => {
  // The upstream trickles bytes and never ends.
  const { port: upstream } = await tcpServer(t, (socket) => {
    const timer = setInterval(() => socket.write('x'), 20);
    socket.once('close', () => clearInterval(timer));
  });
  const { sidecar, port } = await startSidecar(t, upstream);
  const clients = await Promise.all(Array.from({ length: 100 }, () => dial(t, port)));
  const outcomes = clients.map((c) => collect(c));
  await sleep(200);
  const started = Date.now();
  await sidecar.drain(300);
  const results = await Promise.all(outcomes);
  t.ok(results.every((r) => r.data.length > 0), 'bytes flowed before the deadline');
  const endings: Record<string, number> = {};
  for (const r of results) endings[r.ending] = (endings[r.ending] ?? 0) + 1;
  t.same(endings, { ECONNRESET: 100 }, 'every client saw a reset');
  t.ok(Date.now() - started < 1500, 'cut at the deadline');
});
