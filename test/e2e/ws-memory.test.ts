import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { listenerPort, startDaemon, type Daemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

/** A sidecar process with one ws rule in front of `upstream`. */
async function wsSidecar(t: Test, upstream: number, fault: string): Promise<{ daemon: Daemon; port: number }> {
  const file = join(tempDir(t), 'policy.yaml');
  writeFileSync(
    file,
    policyText({
      listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`],
      rules: `    - {name: ws, match: {listener: up, protocol: ws, http: {paths: ["/ws"]}}, faults: [${fault}]}`,
    }),
  );
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' });
  return { daemon, port: await listenerPort(daemon, 'up') };
}

async function wsServer(t: Test, onConnection: (ws: WebSocket) => void): Promise<number> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 200 * 1024 * 1024 });
  server.on('connection', onConnection);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  t.teardown(() => {
    for (const c of server.clients) c.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** Peak RSS growth (MiB) of `daemon` over `ms`, sampled every 250 ms. */
async function growthMiB(daemon: Daemon, before: number, ms: number, until: () => boolean = () => false): Promise<number> {
  let peak = before;
  for (const end = Date.now() + ms; Date.now() < end && !until(); ) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, daemon.rssKiB());
  }
  return (peak - before) / 1024;
}

t.test('a ws_delay flood toward a client that does not read: held messages are bounded, the upstream is pushed back', async (t) => {
  const message = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  let flooding = true;
  const upstream = await wsServer(t, (ws) => {
    const pump = () => {
      // As fast as the socket takes it: a sender that respects backpressure, and no more.
      while (flooding && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) {
        ws.send(message);
        sent += message.length;
      }
      if (flooding && ws.readyState === WebSocket.OPEN) setTimeout(pump, 5);
    };
    pump();
  });
  const { daemon, port } = await wsSidecar(t, upstream, '{type: ws_delay, delay: 200ms}');
  const before = daemon.rssKiB();
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  t.teardown(() => client.terminate());
  await new Promise((resolve, reject) => (client.once('open', resolve), client.once('error', reject)));
  let received = 0;
  client.on('message', (data: Buffer) => (received += data.length));
  client.pause();
  const growth = await growthMiB(daemon, before, 4000);
  flooding = false;
  t.ok(growth < 48, `RSS grew by ${growth.toFixed(1)} MiB in 4 s (limit 48)`);
  t.ok(sent < 64 * 1024 * 1024, `the upstream could send only ${(sent / 1024 / 1024).toFixed(1)} MiB`);
  client.resume();
  await new Promise((r) => setTimeout(r, 500));
  t.ok(received > 0, 'the held messages arrive once the client reads');
});

t.test('95 MiB messages on a ws rule: closed with 1009 at the cap, never buffered whole', async (t) => {
  const upstream = await wsServer(t, (ws) => ws.on('message', () => ws.send('got it')));
  const { daemon, port } = await wsSidecar(t, upstream, '{type: ws_delay, delay: 1ms}');
  const before = daemon.rssKiB();
  const big = Buffer.alloc(95 * 1024 * 1024, 1);
  const codes: Promise<number>[] = [];
  for (let i = 0; i < 4; i++) {
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    t.teardown(() => client.terminate());
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    codes.push(new Promise((resolve) => (client.once('close', (code) => resolve(code)), setTimeout(() => resolve(-1), 15_000).unref())));
    client.send(big);
  }
  let settled = false;
  void Promise.all(codes).then(() => (settled = true));
  const growth = await growthMiB(daemon, before, 10_000, () => settled);
  t.same(await Promise.all(codes), [1009, 1009, 1009, 1009], 'each client gets 1009 Message Too Big');
  t.ok(growth < 100, `RSS grew by ${growth.toFixed(1)} MiB for four 95 MiB messages (limit 100)`);
});
