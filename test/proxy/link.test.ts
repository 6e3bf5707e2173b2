import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import t from 'tap';
import { collect, dial, echoServer, sha256, sleep, tcpServer, waitFor } from '../helpers/net.js';
import { policyText, startSidecar } from '../helpers/sidecar.js';

const latencyRule = `    - name: toggled
      match: {listener: up}
      faults: [{type: latency, latency: 5ms, jitter: 3ms, stream: both}]`;

t.test('50 MiB through one connection while a latency fault is toggled 20 times: complete and in order', async (t) => {
  const size = 50 * 1024 * 1024;
  const payload = randomBytes(size);
  // The upstream checks what it receives (client→server) and sends the payload back.
  let upstreamDigest = '';
  const { port: upstream } = await tcpServer(
    t,
    (socket) => {
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('end', () => {
        upstreamDigest = sha256(Buffer.concat(received));
        socket.end();
      });
      socket.write(payload);
    },
    { allowHalfOpen: true },
  );
  const { port, sidecar } = await startSidecar(t, upstream);
  const socket = await dial(t, port);
  const downstream = collect(socket);
  // The writer is paced by the toggles: segment k goes out only after toggle k, so every toggle
  // lands while client→server bytes are still to come, however fast or slow the machine is.
  const SEGMENTS = 20;
  let toggles = 0;
  let toggled: () => void = () => {};
  const writer = (async () => {
    const segment = Math.ceil(size / SEGMENTS);
    for (let k = 0; k < SEGMENTS; k++) {
      while (toggles <= k) await new Promise<void>((r) => (toggled = r));
      for (let offset = k * segment; offset < Math.min(size, (k + 1) * segment); offset += 256 * 1024) {
        const end = Math.min(size, (k + 1) * segment, offset + 256 * 1024);
        if (!socket.write(payload.subarray(offset, end))) await new Promise((r) => socket.once('drain', r));
      }
    }
    socket.end();
  })();
  const text = (rules?: string) =>
    `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: t}\nspec:\n  listeners:\n    - {name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}\n  rules:${rules ? `\n${rules}` : ' []'}\n`;
  for (let i = 0; i < SEGMENTS; i++) {
    t.ok(await sidecar.reload(text(i % 2 === 0 ? latencyRule : undefined)), `toggle ${i + 1} applied`);
    toggles++;
    toggled();
    await sleep(20);
  }
  await writer;
  const outcome = await downstream;
  t.equal(toggles, SEGMENTS);
  t.equal(outcome.data.length, size, 'every byte came back');
  t.equal(sha256(outcome.data), sha256(payload), 'server→client bytes intact and in order');
  t.equal(upstreamDigest, sha256(payload), 'client→server bytes intact and in order');
  t.equal(outcome.ending, 'end', 'the connection closed cleanly');
});

// A short connection (64 bytes and a FIN each way) whose fault comes or goes just after its
// source ended: the FIN went into the old chain, and must not wait for a new chain forever.
t.test('a FIN that arrived before a rewiring still ends the destination (latency toggled under short connections)', async (t) => {
  const { port: upstream } = await echoServer(t);
  const { sidecar, port } = await startSidecar(t, upstream);
  const rule = '    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 1ms}]}';
  const until = Date.now() + 4000;
  let flips = 0;
  const flipper = (async () => {
    while (Date.now() < until) {
      await sidecar.reload(policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`], rules: flips++ % 2 ? rule : undefined }));
      await sleep(20);
    }
  })();
  let hung = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 30 }, async () => {
      while (Date.now() < until) {
        const socket = connect(port, '127.0.0.1');
        socket.end('x'.repeat(64));
        const outcome = await Promise.race([collect(socket), sleep(3000).then(() => undefined)]);
        socket.destroy();
        if (outcome?.ending === 'end' && outcome.data.length === 64) done++;
        else hung++;
      }
    }),
  );
  await flipper;
  t.ok(flips > 20, `${flips} policy flips`);
  t.ok(done > 300, `${done} short connections`);
  t.equal(hung, 0, 'every one ended with its 64 bytes and a FIN');
  t.ok(await waitFor(() => sidecar.connections.size === 0, 3000), 'none left open in the sidecar');
});
