import { randomBytes } from 'node:crypto';
import t from 'tap';
import { collect, dial, sha256, sleep, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

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
  let offset = 0;
  const writer = (async () => {
    while (offset < size) {
      const end = Math.min(size, offset + 256 * 1024);
      if (!socket.write(payload.subarray(offset, end))) await new Promise((r) => socket.once('drain', r));
      offset = end;
    }
    socket.end();
  })();
  const text = (rules?: string) =>
    `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: t}\nspec:\n  listeners:\n    - {name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}\n  rules:${rules ? `\n${rules}` : ' []'}\n`;
  let toggles = 0;
  let midTransfer = 0;
  for (let i = 0; i < 20; i++) {
    t.ok(await sidecar.reload(text(i % 2 === 0 ? latencyRule : undefined)), `toggle ${i + 1} applied`);
    toggles++;
    if (offset < size) midTransfer++;
    await sleep(40);
  }
  await writer;
  const outcome = await downstream;
  t.equal(toggles, 20);
  t.ok(midTransfer >= 10, `${midTransfer} of the toggles happened while bytes were flowing`);
  t.equal(outcome.data.length, size, 'every byte came back');
  t.equal(sha256(outcome.data), sha256(payload), 'server→client bytes intact and in order');
  t.equal(upstreamDigest, sha256(payload), 'client→server bytes intact and in order');
  t.equal(outcome.ending, 'end', 'the connection closed cleanly');
});
