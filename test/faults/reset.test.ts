import t from 'tap';
import { collect, dial, echoServer, exchange, roundTrip, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('reset gives the client ECONNRESET at once', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: rst
      match: {listener: up}
      faults: [{type: reset}]`);
  const outcome = await exchange(t, port, 'hello', { keepOpen: true });
  t.equal(outcome.ending, 'ECONNRESET');
  t.equal(outcome.data.length, 0, 'nothing reaches the client');
});

t.test('reset after a duration (after: 300ms) cuts an established connection then', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: rst-later
      match: {listener: up}
      faults: [{type: reset, after: 300ms}]`);
  const socket = await dial(t, port);
  const outcome = collect(socket);
  t.ok((await roundTrip(socket)) < 100, 'the connection works before the reset');
  const { ending, ms } = await outcome;
  t.equal(ending, 'ECONNRESET');
  t.ok(ms >= 250 && ms <= 450, `reset came after ${ms.toFixed(0)} ms (300 expected)`);
});

t.test('reset after bytes: the first N bytes arrive, then ECONNRESET', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => {
    socket.write(Buffer.alloc(1000, 1));
    setTimeout(() => socket.write(Buffer.alloc(100_000, 2)), 100);
  });
  const { port } = await startSidecar(t, upstream, `    - name: rst-bytes
      match: {listener: up}
      faults: [{type: reset, bytes: 1000}]`);
  const outcome = await exchange(t, port, '', { keepOpen: true });
  t.equal(outcome.ending, 'ECONNRESET');
  t.equal(outcome.data.length, 1000, 'exactly the first 1000 bytes arrive');
});
