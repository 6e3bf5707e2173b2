import t from 'tap';
import { exchange, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('limit_data delivers exactly N bytes, then closes', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => socket.end(Buffer.alloc(1024 * 1024, 3)));
  const { port } = await startSidecar(t, upstream, `    - name: limited
      match: {listener: up}
      faults: [{type: limit_data, bytes: 100000}]`);
  for (let i = 0; i < 3; i++) {
    const outcome = await exchange(t, port, '', { keepOpen: true });
    t.equal(outcome.data.length, 100_000, 'exactly 100000 bytes');
    t.equal(outcome.ending, 'end', 'then a clean close (FIN)');
  }
});

t.test('limit_data counts across chunks and accepts sizes like "1KiB"', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => {
    let n = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || ++n > 20) return clearInterval(timer);
      socket.write(Buffer.alloc(100, n));
    }, 5);
  });
  const { port } = await startSidecar(t, upstream, `    - name: limited
      match: {listener: up}
      faults: [{type: limit_data, bytes: 1KiB}]`);
  const outcome = await exchange(t, port, '', { keepOpen: true });
  t.equal(outcome.data.length, 1024);
  t.equal(outcome.ending, 'end');
});
