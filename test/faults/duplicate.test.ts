import t from 'tap';
import { duplicate } from '../../src/faults/duplicate.js';
import { datagramStage, scripted } from '../helpers/faults.js';

// Over 10,000 datagrams of a real UDP listener: test/udp/relay.test.ts.
t.test('duplicate emits a datagram twice with its probability, and counts the copy', async (t) => {
  const { stage, out, fates } = datagramStage(duplicate, { probability: 0.5 }, scripted(0.1, 0.9));
  stage.push(Buffer.from('a'));
  stage.push(Buffer.from('b'));
  t.same(out.map(String), ['a', 'a', 'b']);
  t.same(fates, ['duplicated']);
  stage.interrupt();
  stage.push(Buffer.from('c'));
  t.same(out.map(String), ['a', 'a', 'b', 'c'], 'interrupted: passes');
  stage.destroy();
  t.notOk(duplicate.options.safeParse({}).success, 'probability is required');
});
