import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { collect, dial } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { binomialInterval } from '../helpers/stats.js';

/** A WebSocket echo server (text comes back as "echo:" + text); closed at teardown. */
async function wsUpstream(t: Test): Promise<{ port: number; server: WebSocketServer }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${String(data)}`, { binary: isBinary })));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  t.teardown(() => {
    for (const c of server.clients) c.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, server };
}

async function open(t: Test, port: number, path = '/ws'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: true });
  t.teardown(() => ws.terminate());
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return ws;
}

function nextMessage(ws: WebSocket, ms = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => (ws.off('message', on), resolve(undefined)), ms);
    const on = (data: WebSocket.RawData) => (clearTimeout(timer), resolve(String(data)));
    ws.once('message', on);
  });
}

t.test('ws_close closes with the exact code and reason', async (t) => {
  const { port: up } = await wsUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: close-it
      match: {listener: up, protocol: ws, http: {paths: ["/ws"]}}
      faults: [{type: ws_close, code: 4001, reason: "chaos says bye", stream: upstream}]`);
  const ws = await open(t, port);
  const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, String(reason)])));
  ws.send('hello');
  t.same(await closed, [4001, 'chaos says bye']);
});

t.test('ws_delay delays messages in order; ping passes; unmatched paths are raw pipes', async (t) => {
  const { port: up } = await wsUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: slow-ws
      match: {listener: up, protocol: ws, http: {paths: ["/ws"]}}
      faults: [{type: ws_delay, delay: 100ms}]`);
  const ws = await open(t, port);
  const got: string[] = [];
  const all = new Promise<void>((resolve) => ws.on('message', (d) => (got.push(String(d)), got.length === 20 && resolve())));
  const started = performance.now();
  for (let i = 0; i < 20; i++) ws.send(`m${i}`);
  await all;
  const ms = performance.now() - started;
  t.same(got, Array.from({ length: 20 }, (_, i) => `echo:m${i}`), 'order kept');
  t.ok(ms >= 99 && ms < 200, `delayed by ${ms.toFixed(0)} ms (≈ 100)`);
  const pong = new Promise<number>((resolve) => {
    const s = performance.now();
    ws.once('pong', () => resolve(performance.now() - s));
  });
  ws.ping();
  t.ok((await pong) < 50, 'ping/pong are not delayed');
  const raw = await open(t, port, '/other');
  const s2 = performance.now();
  raw.send('x');
  t.equal(await nextMessage(raw), 'echo:x');
  t.ok(performance.now() - s2 < 50, 'unmatched WebSocket is not delayed');
});

t.test('ws_drop drops messages with a per-message probability', async (t) => {
  const { port: up } = await wsUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: lossy
      match: {listener: up, protocol: ws}
      faults: [{type: ws_drop, probability: 0.5, stream: upstream}]`);
  const ws = await open(t, port);
  let received = 0;
  ws.on('message', () => received++);
  for (let i = 0; i < 1000; i++) ws.send(`m${i}`);
  ws.send('x'.repeat(10));
  await new Promise((r) => setTimeout(r, 500));
  const [low, high] = binomialInterval(1001, 0.5);
  t.ok(received >= low && received <= high, `${received} of 1001 delivered, within [${low}, ${high}]`);
});

t.test('an invalid WebSocket frame gets a close with a protocol error; other connections live', async (t) => {
  const { port: up } = await wsUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: any-ws
      match: {listener: up, protocol: ws}
      faults: [{type: ws_delay, delay: 1ms}]`);
  const good = await open(t, port);
  const socket = await dial(t, port);
  const outcome = collect(socket);
  socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // reserved opcode 3, masked
  const seen = await outcome;
  const close = seen.data.subarray(seen.data.indexOf('\r\n\r\n') + 4);
  t.equal(close[0], 0x88, 'a Close frame');
  t.equal(close.readUInt16BE(2), 1002, 'code 1002 (protocol error)');
  good.send('still');
  t.equal(await nextMessage(good), 'echo:still');
});

t.test('http faults act on a WebSocket handshake a ws rule matches: http_abort answers it, no 101', async (t) => {
  const { port: up } = await wsUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: deny-ws
      match: {listener: up, protocol: ws, http: {paths: ["/denied"]}}
      faults: [{type: http_abort, status: 503}]`);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/denied`);
  t.teardown(() => ws.terminate());
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => resolve(101));
    ws.once('error', () => {});
  });
  t.equal(status, 503, 'the handshake got the fault\'s answer');
  const other = await open(t, port, '/ws');
  other.send('still');
  t.equal(await nextMessage(other), 'echo:still', 'another path upgrades as usual');
});
