import t from 'tap';
import type { Test } from 'tap';
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import { collect, dial, echoServer, exchange, roundTrip, tcpServer } from '../helpers/net.js';
import { startToxiproxy } from '../helpers/admin.js';

/** A proxy made over the Toxiproxy API (with the published client) in front of `upstream`. */
async function proxyTo(t: Test, upstream: number): Promise<{ proxy: Proxy; port: number; api: string }> {
  const { api } = await startToxiproxy(t);
  const proxy = await new Toxiproxy(api).createProxy({ name: 'svc', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream}` });
  return { proxy, port: Number(proxy.listen.split(':')[1]), api };
}

t.test('latency: on a live connection at once, and off again when removed', async (t) => {
  const { port: echo } = await echoServer(t);
  const { proxy, port } = await proxyTo(t, echo);
  const socket = await dial(t, port);
  t.ok((await roundTrip(socket)) < 50, 'no latency before the toxic');
  const toxic = await proxy.addToxic({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 100, jitter: 0 } });
  const slow = await roundTrip(socket);
  t.ok(slow >= 95 && slow < 180, `the live connection's round trip is ${slow.toFixed(0)} ms (100 expected)`);
  const fresh = await dial(t, port);
  const freshRtt = await roundTrip(fresh);
  t.ok(freshRtt >= 95 && freshRtt < 180, `a new connection's round trip is ${freshRtt.toFixed(0)} ms`);
  await toxic.remove();
  t.ok((await roundTrip(socket)) < 50, 'removing the toxic restores the live connection');
});

t.test('a toxicity of 0 never applies', async (t) => {
  const { port: echo } = await echoServer(t);
  const { proxy, port } = await proxyTo(t, echo);
  await proxy.addToxic({ name: 'never', type: 'latency', stream: 'downstream', toxicity: 0, attributes: { latency: 300, jitter: 0 } });
  const socket = await dial(t, port);
  t.ok((await roundTrip(socket)) < 100, 'no latency');
});

t.test('reset_peer: timeout 0 resets on the first data, timeout N after N ms', async (t) => {
  const { port: echo } = await echoServer(t);
  const { proxy, port } = await proxyTo(t, echo);
  await proxy.addToxic({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
  const idle = await dial(t, port);
  const idleOutcome = collect(idle);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(idle.destroyed, false, 'an idle connection is left alone until data comes');
  idle.write('hello');
  const first = await idleOutcome;
  t.equal(first.ending, 'ECONNRESET', 'the first data brings a reset');
  t.equal(first.data.length, 0, 'and is dropped');

  const toxic = await proxy.getToxic('rst');
  await toxic.update({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 300 } });
  const socket = await dial(t, port);
  const outcome = collect(socket);
  t.ok((await roundTrip(socket)) < 100, 'the connection works before the timeout');
  const { ending, ms } = await outcome;
  t.equal(ending, 'ECONNRESET');
  t.ok(ms >= 250 && ms < 600, `reset after ${ms.toFixed(0)} ms (300 expected)`);
});

t.test('timeout: data stops, the connection closes after the timeout', async (t) => {
  const { port: echo } = await echoServer(t);
  const { proxy, port } = await proxyTo(t, echo);
  await proxy.addToxic({ name: 'to', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 300 } });
  const outcome = await exchange(t, port, 'hello', { keepOpen: true });
  t.equal(outcome.data.length, 0, 'nothing comes back');
  t.ok(outcome.ms >= 250 && outcome.ms < 700, `closed after ${outcome.ms.toFixed(0)} ms (300 expected)`);
});

t.test('limit_data: exactly `bytes` pass, then the connection closes', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => socket.write(Buffer.alloc(10_000, 1)));
  const { proxy, port } = await proxyTo(t, upstream);
  await proxy.addToxic({ name: 'lim', type: 'limit_data', stream: 'downstream', toxicity: 1, attributes: { bytes: 1234 } } as never);
  const outcome = await exchange(t, port, '', { keepOpen: true });
  t.equal(outcome.data.length, 1234, 'exactly 1234 bytes');
  t.ok(['end', 'close'].includes(outcome.ending), `then the connection ends (${outcome.ending})`);
});

t.test('bandwidth: rate is in KB/s (1000 bytes)', async (t) => {
  const bytes = 200_000;
  const { port: upstream } = await tcpServer(t, (socket) => socket.end(Buffer.alloc(bytes, 7)));
  const { proxy, port } = await proxyTo(t, upstream);
  await proxy.addToxic({ name: 'bw', type: 'bandwidth', stream: 'downstream', toxicity: 1, attributes: { rate: 250 } });
  const socket = await dial(t, port);
  let first = 0;
  socket.once('data', () => (first = performance.now()));
  const outcome = await collect(socket);
  const rate = outcome.data.length / ((performance.now() - first) / 1000);
  t.equal(outcome.data.length, bytes, 'every byte arrives');
  t.ok(Math.abs(rate - 250_000) / 250_000 <= 0.15, `measured ${(rate / 1000).toFixed(0)} KB/s (250 expected)`);
});

t.test('slicer and slow_close act on the data plane too', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => socket.end(Buffer.alloc(2000, 3)));
  const { proxy, port } = await proxyTo(t, upstream);
  await proxy.addToxic({ name: 'sl', type: 'slicer', stream: 'downstream', toxicity: 1, attributes: { average_size: 100, size_variation: 10, delay: 2000 } });
  await proxy.addToxic({ name: 'sc', type: 'slow_close', stream: 'downstream', toxicity: 1, attributes: { delay: 200 } });
  const socket = await dial(t, port);
  let chunks = 0;
  socket.on('data', () => chunks++);
  const outcome = await collect(socket);
  t.equal(outcome.data.length, 2000);
  t.ok(chunks >= 10, `the data came in ${chunks} pieces`);
  t.ok(outcome.ms >= 200, `the close came ${outcome.ms.toFixed(0)} ms after the start (slow_close 200 ms)`);
});
