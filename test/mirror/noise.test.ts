import t from 'tap';
import { DriftLog, clip, DRIFT_LOG_ENTRIES, DIFFERENCES_PER_DRIFT, VALUE_CHARS } from '../../src/mirror/drift-log.js';
import { NoiseModel, NOISE_IN_FLIGHT, NOISE_MAX_KEYS, NOISE_WARMUP } from '../../src/mirror/noise.js';
import { parseMirrorUpstream } from '../../src/mirror/upstream.js';
import type { Difference } from '../../src/mirror/compare.js';

const diff = (key: string): Difference => ({ kind: 'json', key, where: key, primary: 1, shadow: 2 });

t.test('noise: a warm-up where every request learns, then a bounded share, a bounded set of keys', async (t) => {
  const noise = new NoiseModel();
  let ready = false;
  void noise.ready.then(() => (ready = true));
  const always = () => 0;
  for (let i = 0; i < NOISE_WARMUP; i++) t.ok(noise.draw(always), `warm-up request ${i} learns`);
  t.notOk(noise.draw(always), 'no more than the warm-up in flight before it is done');
  for (let i = 0; i < NOISE_WARMUP - 1; i++) noise.learned([diff(`$.k${i}`)]);
  await Promise.resolve();
  t.notOk(ready);
  noise.learned(undefined);
  await Promise.resolve();
  t.ok(ready && noise.warm, 'ready once the warm-up is done (a failed second request counts)');
  t.notOk(noise.draw(() => 0.5), 'then only a share of requests');
  for (let i = 0; i < NOISE_IN_FLIGHT; i++) t.ok(noise.draw(always));
  t.notOk(noise.draw(always), `at most ${NOISE_IN_FLIGHT} in flight`);
  noise.learned(Array.from({ length: 100 }, (_, i) => diff(`$.x${i}`)));
  t.equal(noise.keys.size, NOISE_MAX_KEYS, 'keys are capped');
  t.match(noise.view(), { warm: true, samples: NOISE_WARMUP + 1 });
});

t.test('drift log: the newest entries, each bounded', async (t) => {
  const log = new DriftLog();
  const many = Array.from({ length: 20 }, (_, i) => ({ ...diff(`$.k${i}`), primary: 'x'.repeat(1000) }));
  for (let i = 0; i < DRIFT_LOG_ENTRIES + 5; i++) log.add({ rule: i % 2 ? 'odd' : 'even', protocol: 'http', method: 'GET', path: `/p/${i}${'q'.repeat(1000)}`, status: { primary: 200, shadow: 200 } }, many);
  const all = log.list();
  t.equal(all.length, DRIFT_LOG_ENTRIES);
  t.match(all[0]?.path, /^\/p\/5q/, 'the oldest went');
  t.equal(all[0]?.path.length, VALUE_CHARS);
  t.equal(all[0]?.differences.length, DIFFERENCES_PER_DRIFT);
  t.equal(all[0]?.more, 20 - DIFFERENCES_PER_DRIFT);
  t.ok(all[0]?.differences[0]?.primary?.endsWith('…'));
  t.equal(log.list(3, 'odd').length, 3);
  t.ok(log.list(100, 'odd').every((e) => e.rule === 'odd'));
  t.equal(clip(undefined), null);
  t.equal(clip({ a: 1 }), '{"a":1}');
  t.ok(JSON.stringify(all).length < DRIFT_LOG_ENTRIES * 4096, 'the whole log stays small');
});

t.test('mirror upstreams: HOST:PORT or an http(s) URL without a path', async (t) => {
  t.same(parseMirrorUpstream('10.0.0.1:8080'), { origin: 'http://10.0.0.1:8080', secure: false });
  t.same(parseMirrorUpstream('[::1]:80'), { origin: 'http://[::1]:80', secure: false });
  t.same(parseMirrorUpstream('https://dr.example.com'), { origin: 'https://dr.example.com', secure: true });
  t.same(parseMirrorUpstream('http://dr.svc:8080/'), { origin: 'http://dr.svc:8080', secure: false });
  for (const bad of ['http://dr.svc/prefix', 'ftp://x:1', 'http://u:p@x:1', 'http://x:1/?q', 'nonsense', 'x:99999']) t.equal(parseMirrorUpstream(bad), undefined, bad);
});
