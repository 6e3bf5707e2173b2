import t from 'tap';
import { duration, durationFlag, MAX_DURATION_MS, parseDuration, parseRate, parseSize, sizeFlag } from '../../src/policy/units.js';

t.test('durations', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('500us'), 0.5);
  t.equal(parseDuration(100), 100);
  t.equal(parseDuration('100'), 100);
  t.equal(parseDuration('soon'), undefined);
  t.equal(parseDuration('10ms5'), undefined);
  t.equal(parseDuration(Number.NaN), undefined);
});

t.test('sizes and rates', async (t) => {
  t.equal(parseSize('64KiB'), 65536);
  t.equal(parseSize('1MB'), 1e6);
  t.equal(parseSize(42), 42);
  t.equal(parseSize('12 parsecs'), undefined);
  t.equal(parseRate('64KiB/s'), 65536);
  t.equal(parseRate('4 MiB/s'), 4 * 1024 * 1024);
  t.equal(parseRate('8mbps'), 1e6);
  t.equal(parseRate(1000), 1000);
  t.equal(parseRate('fast'), undefined);
});

t.test('duration and size flags: one parser, the flag named in a UsageError', async (t) => {
  t.equal(durationFlag('5s', '--drain-timeout'), 5000);
  t.equal(durationFlag('250', '--drain-timeout'), 250);
  for (const bad of ['abc', '-5', '', '5 parsecs']) {
    t.throws(() => durationFlag(bad, '--drain-timeout'), { name: 'UsageError', code: 'FL_ERR_USAGE', message: new RegExp(`^--drain-timeout: "${bad}" must be a duration from 0 to `) });
  }
  t.throws(() => durationFlag('2s', '--lease', { minMs: 3000, maxMs: 3_600_000 }), { message: '--lease: "2s" must be a duration from 3s to 1h, e.g. 5s or 250ms' });
  t.throws(() => durationFlag(String(MAX_DURATION_MS + 1), '--x'), { message: /from 0 to 2147483647ms/ });
  t.equal(sizeFlag('64KiB', '--buffer'), 65536);
  t.throws(() => sizeFlag('64 apples', '--buffer', { max: 1 << 20 }), { message: '--buffer: "64 apples" must be a size from 0 to 1048576 bytes, e.g. 64KiB or 1MiB' });
});

t.test('a policy duration of 2^31 ms or more is refused (a timer would fire every millisecond)', async (t) => {
  t.equal(duration.parse('500h'), 500 * 3_600_000);
  t.equal(duration.parse(MAX_DURATION_MS), MAX_DURATION_MS);
  const tooLong = duration.safeParse(2 ** 31);
  t.notOk(tooLong.success);
  t.match(tooLong.error?.issues[0]?.message, /too large: at most 2147483647ms/);
  t.notOk(duration.safeParse('600h').success);
});
