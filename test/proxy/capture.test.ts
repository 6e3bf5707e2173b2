import t from 'tap';
import { dial, echoServer, exchange, roundTrip } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

// The kernel part (REDIRECT, SO_ORIGINAL_DST) is tested in network namespaces in
// test/interception/; here the original destination is given, to test the routing and matching.
t.test('capture listeners route to the original destination and match by direction and port', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar } = await startSidecar(t, echo, `    - name: slow-outbound
      match: {direction: outbound, ports: [${echo}]}
      faults: [{type: latency, latency: 80ms}]`);
  await sidecar.addCaptureListeners({ inbound: 0, outbound: 0 }, () => ({ address: '127.0.0.1', port: echo, family: 4 }));
  const outbound = await dial(t, sidecar.address('outbound').port);
  t.ok((await roundTrip(outbound)) >= 75, 'outbound traffic to the matched port is delayed');
  const inbound = await dial(t, sidecar.address('inbound').port);
  t.ok((await roundTrip(inbound)) < 40, 'inbound traffic is not');
  t.same(
    [...sidecar.connections].map((c) => c.meta.direction).sort(),
    ['inbound', 'outbound'],
    'connections carry their direction',
  );
});

t.test('a socket whose original destination cannot be read is reset', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar } = await startSidecar(t, echo);
  await sidecar.addCaptureListeners({ outbound: 0 }, () => {
    throw new Error('not redirected');
  });
  const outcome = await exchange(t, sidecar.address('outbound').port, 'x', { keepOpen: true });
  t.equal(outcome.ending, 'ECONNRESET');
});
