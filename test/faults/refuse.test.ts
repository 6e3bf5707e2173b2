import t from 'tap';
import { exchange, echoServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('refuse resets new connections at once, without dialling the upstream', async (t) => {
  let upstreamConnections = 0;
  const { port: echo, server } = await echoServer(t);
  server.on('connection', () => upstreamConnections++);
  const { port } = await startSidecar(t, echo, `    - name: closed
      match: {listener: up}
      faults: [{type: refuse}]`);
  const outcome = await exchange(t, port, 'hello', { keepOpen: true });
  t.equal(outcome.ending, 'ECONNRESET');
  t.equal(upstreamConnections, 0, 'the upstream never saw a connection');
});

t.test('firstConnections: N refuses only the first N connections', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: cold-start
      match: {listener: up}
      faults: [{type: refuse, firstConnections: 2}]`);
  const endings = [];
  for (let i = 0; i < 4; i++) endings.push((await exchange(t, port, 'x')).ending);
  t.same(endings, ['ECONNRESET', 'ECONNRESET', 'end', 'end']);
});
