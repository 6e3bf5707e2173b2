import t from 'tap';
import { SlicedRefresh } from '../../src/proxy/refresh.js';

/** Items whose refresh costs `ms` of busy time, counting calls. */
const items = (n: number, ms: number) => {
  const calls = { count: 0 };
  const list = Array.from({ length: n }, () => ({
    refresh() {
      calls.count++;
      const until = performance.now() + ms;
      while (performance.now() < until);
    },
  }));
  return { list, calls };
};

t.test('a few items are refreshed before run returns', async (t) => {
  const { list, calls } = items(5, 0);
  const done = new SlicedRefresh().run(list);
  t.equal(calls.count, 5);
  await done;
});

t.test('many are refreshed in slices, with the event loop turning between them', async (t) => {
  const { list, calls } = items(2000, 0.02);
  let turns = 0;
  const ticker = setInterval(() => turns++, 1);
  const done = new SlicedRefresh().run(list);
  t.ok(calls.count < 2000, `the first slice took ${calls.count}, not all`);
  await done;
  clearInterval(ticker);
  t.equal(calls.count, 2000, 'all refreshed in the end');
  t.ok(turns > 3, `timers ran meanwhile (${turns} turns)`);
});

t.test('a newer run supersedes an older one', async (t) => {
  const refresher = new SlicedRefresh();
  const first = items(3000, 0.02);
  const older = refresher.run(first.list);
  const second = items(10, 0);
  await refresher.run(second.list);
  await older;
  t.ok(first.calls.count < 3000, `the older run stopped early (${first.calls.count} of 3000)`);
  t.equal(second.calls.count, 10);
});
