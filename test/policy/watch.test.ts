import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PolicyWatcher } from '../../src/policy/watch.js';
import { sleep, waitFor } from '../helpers/net.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('a file written in pieces is taken once, whole: a valid first piece never applies', async (t) => {
  const file = join(tempDir(t), 'policy.yaml');
  const initial = policyText({});
  writeFileSync(file, initial);
  const seen: string[] = [];
  const watcher = new PolicyWatcher(file, (text) => seen.push(text), () => t.fail('no read error expected'), 50);
  watcher.start(initial);
  t.teardown(() => watcher.stop());

  // The first piece is a whole policy by itself (no rules); the second adds a rule to it.
  const whole = policyText({ rules: '    - {name: slow, match: {}, faults: [{type: latency, latency: 5ms}]}' });
  const cut = whole.indexOf('  rules:');
  writeFileSync(file, whole.slice(0, cut));
  await sleep(5);
  appendFileSync(file, whole.slice(cut));
  t.ok(await waitFor(() => seen.length > 0), 'the change was seen');
  await sleep(200);
  t.same(seen, [whole], 'only the whole text, once');
});

t.test('a file that keeps changing is still taken, after a bounded wait', async (t) => {
  const file = join(tempDir(t), 'policy.yaml');
  writeFileSync(file, 'a');
  const seen: string[] = [];
  const watcher = new PolicyWatcher(file, (text) => seen.push(text), () => {}, 50);
  watcher.start('a');
  t.teardown(() => watcher.stop());
  const started = performance.now();
  // A writer that never stops for long: a new text every 5 ms, for at most 2 s.
  for (let i = 0; i < 400 && seen.length === 0; i++) {
    writeFileSync(file, `text ${i}`);
    await sleep(5);
  }
  const ms = performance.now() - started;
  t.ok(seen.length > 0, `a text was taken while the file kept changing (after ${ms.toFixed(0)} ms)`);
  t.ok(ms < 1500, 'within the settle bound');
});
