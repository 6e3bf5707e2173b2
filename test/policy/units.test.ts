import t from 'tap';
import { parseDuration, parseRate, parseSize } from '../../src/policy/units.js';

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
