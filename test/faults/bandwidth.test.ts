import t from 'tap';
import type { Test } from 'tap';
import { collect, dial, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

/** Downloads `bytes` through a downstream cap of `rate` and returns the measured bytes/s. */
async function measure(t: Test, rate: string, bytes: number): Promise<{ rate: number; received: number }> {
  const { port: upstream } = await tcpServer(t, (socket) => socket.end(Buffer.alloc(bytes, 7)));
  const { port } = await startSidecar(t, upstream, `    - name: capped
      match: {listener: up}
      faults: [{type: bandwidth, rate: "${rate}"}]`);
  const socket = await dial(t, port);
  let first = 0;
  socket.once('data', () => (first = performance.now()));
  const outcome = await collect(socket);
  // Timed from the first byte: the connection set-up is not part of the rate.
  const seconds = (performance.now() - first) / 1000;
  return { rate: outcome.data.length / seconds, received: outcome.data.length };
}

t.test('256 KiB/s is 256 KiB/s within 10%', async (t) => {
  const target = 256 * 1024;
  const { rate, received } = await measure(t, '256KiB/s', 512 * 1024);
  t.equal(received, 512 * 1024, 'every byte arrives');
  t.ok(Math.abs(rate - target) / target <= 0.1, `measured ${(rate / 1024).toFixed(1)} KiB/s`);
});

t.test('4 MiB/s is 4 MiB/s within 10%', async (t) => {
  const target = 4 * 1024 * 1024;
  const { rate, received } = await measure(t, '4MiB/s', 8 * 1024 * 1024);
  t.equal(received, 8 * 1024 * 1024, 'every byte arrives');
  t.ok(Math.abs(rate - target) / target <= 0.1, `measured ${(rate / 1024 / 1024).toFixed(2)} MiB/s`);
});
