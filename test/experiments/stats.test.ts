import t from 'tap';
import type { Sample } from '../../src/experiments/probes.js';
import { percentile, recoveries, stats } from '../../src/experiments/stats.js';

const s = (t: number, ok: boolean, latencyMs = 10, error?: string): Sample => ({ probe: 'p', t, ok, latencyMs, ...(error ? { error } : {}) });

t.test('percentiles are nearest rank', async (t) => {
  t.equal(percentile([], 50), null);
  t.equal(percentile([5], 99), 5);
  t.equal(percentile([1, 2, 3, 4], 50), 2);
  t.equal(percentile([4, 3, 2, 1], 99), 4);
  t.equal(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99), 99);
});

t.test('availability and error rate; a slow answer is neither ok nor an error', async (t) => {
  t.same(stats([]), { samples: 0, ok: 0, availability: null, errorRate: null, p50: null, p99: null });
  const got = stats([s(0, true, 1), s(1, false, 2, 'status 503'), s(2, false, 300, 'slower than 100 ms'), s(3, true, 4)]);
  t.same(got, { samples: 4, ok: 2, availability: 0.5, errorRate: 0.25, p50: 2, p99: 300 });
});

t.test('recovery after each window', async (t) => {
  const windows = [{ start: 100, end: 200 }, { start: 400, end: 500 }];
  const samples = [s(50, true), s(150, false), s(210, false), s(260, true), s(300, true), s(450, true), s(510, true), s(560, true)];
  t.same(recoveries(samples, windows, 600), [60, 0], 'first ok of the final ok run; 0 when it was ok at the window\'s end');
  t.same(recoveries([s(150, false), s(250, false)], [{ start: 100, end: 200 }], 300), [null], 'never recovered');
  t.same(recoveries([s(150, false)], [{ start: 100, end: 200 }], 300), [null], 'no sample after');
  t.same(recoveries([s(150, false), s(210, true), s(230, false), s(250, true)], [{ start: 100, end: 200 }], 300), [50], 'a relapse restarts the count');
});
