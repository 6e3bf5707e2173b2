import t from 'tap';
import { fanOut, TargetFailure } from '../../src/fleet/fanout.js';

t.test('fan-out: bounded concurrency, one result per target in order, abort stops new calls', async (t) => {
  let inFlight = 0;
  let most = 0;
  const targets = Array.from({ length: 10 }, (_, i) => `pod-${i}`);
  const results = await fanOut(targets, async (target) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    if (target === 'pod-3') throw new TargetFailure('unreachable');
    return target.toUpperCase();
  }, { concurrency: 3 });
  t.equal(most, 3, 'never more than the cap in flight');
  t.same(results.map((r) => r.target), targets, 'in the targets\' order');
  t.match(results[3], { result: 'failed', reason: 'unreachable' });
  t.match(results[0], { result: 'ok', data: 'POD-0' });

  const controller = new AbortController();
  const started: string[] = [];
  const partial = await fanOut(targets, async (target) => {
    started.push(target);
    if (started.length === 2) controller.abort();
    await new Promise((r) => setTimeout(r, 5));
    return 1;
  }, { concurrency: 1, signal: controller.signal });
  t.same(started, ['pod-0', 'pod-1'], 'no call starts after the abort');
  t.same(partial.map((r) => r.result), ['ok', 'ok', ...Array(8).fill('not-attempted')], 'the call in flight finished; the rest are not attempted');
  t.same(await fanOut([], async () => 1), []);
});
