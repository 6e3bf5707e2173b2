import t from 'tap';
import { dial, echoServer, roundTrip, sleep } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('blackhole accepts and passes nothing; removing it lets data flow again', async (t) => {
  const { port: echo } = await echoServer(t);
  const rule = `    - name: void
      match: {listener: up}
      faults: [{type: blackhole}]`;
  const { port, write } = await startSidecar(t, echo, rule);
  const socket = await dial(t, port);
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write('lost');
  await sleep(300);
  t.equal(received, 0, 'nothing comes back');
  t.notOk(socket.destroyed, 'the connection stays open');
  write(undefined);
  await sleep(300);
  socket.removeAllListeners('data');
  t.ok((await roundTrip(socket)) < 100, 'after the policy drops the fault, the same connection echoes again');
});
