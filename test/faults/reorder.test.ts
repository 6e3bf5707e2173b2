import t from 'tap';
import { reorder } from '../../src/faults/reorder.js';
import { datagramStage, scripted } from '../helpers/faults.js';

// Over 10,000 datagrams of a real UDP listener: test/udp/relay.test.ts.
t.test('reorder holds a datagram back by delay, so the ones behind it overtake it', async (t) => {
  const { stage, out, fates } = datagramStage(reorder, { probability: 0.3, delay: '20ms' }, scripted(0.1, 0.9, 0.9));
  for (const d of ['1', '2', '3']) stage.push(Buffer.from(d));
  t.same(out.map(String), ['2', '3'], 'the first is held');
  t.same(fates, ['reordered']);
  await new Promise((r) => setTimeout(r, 40));
  t.same(out.map(String), ['2', '3', '1'], 'and arrives after them');
  stage.push(Buffer.from('4'));
  stage.interrupt();
  t.same(out.map(String), ['2', '3', '1', '4'], 'interrupt hands on what it holds at once');
  t.same(reorder.options.parse({ probability: 0.1 }), { probability: 0.1, delay: 10 }, 'delay 10 ms by default');
});
