import t from 'tap';
import { collect, dial, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('slicer cuts data into small delayed writes; every byte arrives in order', async (t) => {
  const payload = Buffer.from(Array.from({ length: 2000 }, (_, i) => i % 251));
  const { port: upstream } = await tcpServer(t, (socket) => socket.end(payload));
  const { port } = await startSidecar(t, upstream, `    - name: sliced
      match: {listener: up}
      faults: [{type: slicer, averageSize: 100, sizeVariation: 20, delay: 10ms}]`);
  const socket = await dial(t, port);
  let reads = 0;
  socket.on('data', () => reads++);
  const outcome = await collect(socket);
  t.same(outcome.data, payload, 'the bytes are intact');
  t.ok(reads >= 10, `arrived in ${reads} reads`);
  t.ok(outcome.ms >= 150, `with delays between slices (${outcome.ms.toFixed(0)} ms for ~20 slices at 10 ms)`);
});
