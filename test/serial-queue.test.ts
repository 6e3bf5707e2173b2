import t from 'tap';
import { SerialQueue } from '../src/serial-queue.js';

t.test('jobs run one at a time, in order; a failure rejects only its own job', async (t) => {
  const queue = new SerialQueue();
  const log: string[] = [];
  const job = (name: string, ms: number) => () => new Promise<string>((resolve) => setTimeout(() => (log.push(name), resolve(name)), ms));
  const a = queue.run(job('a', 30));
  const b = queue.run(() => Promise.reject(new Error('b failed')));
  const c = queue.run(job('c', 1));
  t.equal(await a, 'a');
  await t.rejects(b, { message: 'b failed' });
  t.equal(await c, 'c');
  t.same(log, ['a', 'c'], 'c waited for a, though it was faster');
});
