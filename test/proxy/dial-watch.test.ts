import { connect, Socket } from 'node:net';
import t from 'tap';
import { DialWatch, dialWatch } from '../../src/proxy/dial-watch.js';
import { AcceptedMeta } from '../../src/proxy/meta.js';
import { echoServer, sleep, waitFor } from '../helpers/net.js';

t.test('a dial not connected by its deadline is destroyed with a timeout error; one that connected is left alone', async (t) => {
  let now = 1_000;
  const watch = new DialWatch(40, () => now);
  // Never connected: a socket with no handle stands for a dial that hangs.
  const hanging = new Socket();
  const errors: Error[] = [];
  hanging.on('error', (err) => errors.push(err));
  const { port } = await echoServer(t);
  const connected = connect(port, '127.0.0.1');
  t.teardown(() => connected.destroy());
  watch.watch(hanging);
  watch.watch(connected);
  await new Promise((r) => connected.once('connect', r));
  watch.done(connected);
  t.equal(watch.size, 1);
  now += 39;
  await sleep(30);
  t.notOk(hanging.destroyed, 'not before its deadline');
  now += 1;
  t.ok(await waitFor(() => hanging.destroyed), 'destroyed at its deadline');
  t.match(errors[0]?.message, /^connect timeout after 40 ms$/);
  t.notOk(connected.destroyed);
  t.equal(watch.size, 0, 'and no longer watched (its timer stops)');
});

t.test('one watch per timeout, shared by every connection', (t) => {
  t.equal(dialWatch(10_000), dialWatch(10_000));
  t.not(dialWatch(10_000), dialWatch(5_000));
  t.end();
});

t.test("a connection's source is read from its socket on first use, and kept", async (t) => {
  const { port } = await echoServer(t);
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const meta = new AcceptedMeta(socket, 'outbound', { address: '127.0.0.1', port }, 'up');
  t.same(meta.source, { address: '127.0.0.1', port: socket.remotePort }, "the socket's peer");
  socket.destroy();
  t.equal(meta.source.port, port, 'still known once the socket is gone');
  const late = new AcceptedMeta(new Socket(), 'inbound', { address: '10.0.0.1', port: 80 });
  t.same(late.source, { address: '', port: 0 }, 'asked first after the socket closed: unknown, not a guess');
  t.equal(late.listener, undefined);
});
