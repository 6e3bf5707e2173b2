import t from 'tap';
import { collect, dial, echoServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('timeout passes no data and closes the connection at its time', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: hang
      match: {listener: up}
      faults: [{type: timeout, timeout: 400ms}]`);
  const socket = await dial(t, port);
  const outcome = collect(socket);
  socket.write('anyone there?');
  const { data, ending, ms } = await outcome;
  t.equal(data.length, 0, 'no data passes');
  t.not(ending, 'ECONNRESET', `closed, not reset (${ending})`);
  t.ok(ms >= 380 && ms <= 500, `closed after ${ms.toFixed(0)} ms (400 expected)`);
});

t.test('timeout 0 holds the connection open and silent', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: hold
      match: {listener: up}
      faults: [{type: timeout, timeout: 0}]`);
  const socket = await dial(t, port);
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write('hello');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(received, 0, 'nothing comes back');
  t.notOk(socket.destroyed || socket.readableEnded, 'the connection is still open');
});
