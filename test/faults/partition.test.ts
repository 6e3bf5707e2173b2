import t from 'tap';
import { collect, dial, echoServer, exchange, roundTrip, sleep } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('partition reject by source CIDR: matched peers get RST, others pass, live connections are cut', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port, write } = await startSidecar(t, echo);
  const live = await dial(t, port, '127.0.0.2');
  const liveOutcome = collect(live);
  t.ok((await roundTrip(live)) < 100, 'a connection from 127.0.0.2 works before the partition');
  write(`    - name: split
      match: {sources: ["127.0.0.2/32"]}
      faults: [{type: partition, mode: reject}]`);
  const { ending } = await liveOutcome;
  t.equal(ending, 'ECONNRESET', 'the live connection from the partitioned peer is cut with a RST');
  t.equal((await exchange(t, port, 'x', { localAddress: '127.0.0.2' })).ending, 'ECONNRESET', 'new connections from it are reset');
  const other = await exchange(t, port, 'x', { localAddress: '127.0.0.3' });
  t.equal(other.data.toString(), 'x', 'a peer outside the CIDR is untouched');
});

t.test('partition blackhole by destination port: silence both ways, healed by removal', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port: otherEcho } = await echoServer(t);
  const { port, write, sidecar } = await startSidecar(t, echo, undefined, {
    extraListeners: [`{name: other, listen: "127.0.0.1:0", upstream: "127.0.0.1:${otherEcho}"}`],
  });
  const socket = await dial(t, port);
  write(`    - name: split
      match: {ports: [${echo}]}
      faults: [{type: partition, mode: blackhole}]`);
  await sleep(300);
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write('hello?');
  const fresh = await dial(t, port);
  fresh.on('data', (chunk: Buffer) => (received += chunk.length));
  fresh.write('hello?');
  const unaffected = await exchange(t, sidecar.address('other').port, 'x');
  t.equal(unaffected.data.toString(), 'x', 'traffic to another port is untouched');
  await sleep(300);
  t.equal(received, 0, 'nothing crosses to or from the partitioned port');
  t.notOk(socket.destroyed || fresh.destroyed, 'connections stay open (blackhole, not reset)');
  write(undefined);
  await sleep(300);
  t.equal(received, 0, 'what was sent during the partition is gone');
  socket.removeAllListeners('data');
  t.ok((await roundTrip(socket)) < 100, 'when the partition heals, the same connection works again');
});
