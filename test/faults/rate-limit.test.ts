import t from 'tap';
import { exchange, echoServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('rate_limit lets burst connections through, resets the rest, refills at rate', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: throttle
      match: {listener: up}
      faults: [{type: rate_limit, rate: 5, burst: 3}]`);
  const burst = await Promise.all(Array.from({ length: 8 }, () => exchange(t, port, 'x')));
  const passed = burst.filter((o) => o.ending === 'end').length;
  t.equal(passed, 3, 'the burst of 3 passes, the other 5 are reset');
  await new Promise((r) => setTimeout(r, 450));
  const later = await Promise.all(Array.from({ length: 4 }, () => exchange(t, port, 'x')));
  t.equal(later.filter((o) => o.ending === 'end').length, 2, 'after 450 ms at 5/s, 2 more tokens');
});
