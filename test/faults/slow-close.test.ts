import t from 'tap';
import { exchange, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('slow_close delays the close by its delay, data passes untouched', async (t) => {
  const { port: upstream } = await tcpServer(t, (socket) => socket.end('bye'));
  const { port } = await startSidecar(t, upstream, `    - name: lingering
      match: {listener: up}
      faults: [{type: slow_close, delay: 300ms}]`);
  const outcome = await exchange(t, port, '', { keepOpen: true });
  t.equal(outcome.data.toString(), 'bye');
  t.equal(outcome.ending, 'end');
  t.ok(outcome.ms >= 290 && outcome.ms <= 450, `FIN after ${outcome.ms.toFixed(0)} ms (300 expected)`);
});
