import t from 'tap';
import { loadExperiment } from '../../src/experiments/load.js';
import type { Sample } from '../../src/experiments/probes.js';
import type { Report } from '../../src/experiments/report.js';
import { ExperimentRunner } from '../../src/experiments/runner.js';
import { sleep } from '../helpers/net.js';
import { appBehindSidecar, experimentDoc, yamlOf } from '../helpers/experiment.js';

const run = (doc: Record<string, unknown>, seed = 1) => new ExperimentRunner({ doc: loadExperiment(yamlOf(doc), 'e.yaml'), file: 'e.yaml', seed }).run();

/** Nearest-rank percentile, written again here so that the report's is checked, not reused. */
function nearestRank(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1] as number;
}

t.test('a steady state that holds passes; the rules were the experiment\'s and are gone after', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const seen: string[] = [];
  const watcher = setInterval(() => void h.call('GET', '/rules').then((r) => seen.push(...r.json.rules.map((x: { name: string; expiresAt?: string }) => `${x.name}@${x.expiresAt !== undefined}`))), 20);
  t.teardown(() => clearInterval(watcher));
  const report = await run(experimentDoc(h, probeUrl, {
    method: [{ name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '40ms' }] }], duration: '400ms' }],
  }));
  clearInterval(watcher);
  t.equal(report.verdict.result, 'passed', report.verdict.reason);
  t.ok(seen.includes('exp.checkout.slow@true'), 'the rule on the sidecar had the experiment\'s name, and an expiresAt');
  t.same((await h.call('GET', '/rules')).json.rules, []);
  const probe = report.probes[0] as Report['probes'][number];
  t.ok((probe.during.p50 as number) >= 40, `the latency showed during the window (p50 ${probe.during.p50} ms)`);
  t.ok((probe.before.p50 as number) < 40 && (probe.after.p50 as number) < 40, 'and not before or after');
  t.equal(report.rollback.completed, true);
});

t.test('an http_abort 503 breaks the probe: the experiment aborts at once and every rule is rolled back', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  let removedAt: number | undefined;
  let present = false;
  const watcher = setInterval(() => void h.call('GET', '/rules').then((r) => {
    if (r.json.rules.length > 0) present = true;
    else if (present && removedAt === undefined) removedAt = Date.now();
  }), 5);
  t.teardown(() => clearInterval(watcher));
  const startedAt = Date.now();
  const report = await run(experimentDoc(h, probeUrl, {
    abort: { consecutiveFailures: 3 },
    method: [{ name: 'fail', rules: [{ name: 'fail', match: { listener: 'up', protocol: 'http' }, faults: [{ type: 'http_abort', status: 503 }] }, { name: 'other', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '1ms' }] }], duration: '20s' }],
  }));
  clearInterval(watcher);
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /probe health failed 3 times in a row \(last: status 503\)/);
  t.same((await h.call('GET', '/rules')).json.rules, [], 'both rules removed');
  t.equal(report.rollback.completed, true);
  t.ok(report.durationMs < 5000, `it did not wait for the step's 20 s (${report.durationMs} ms)`);
  const failed = report.samples.filter((s) => s.status === 503);
  t.ok(failed.length >= 3, 'the probe saw the 503s');
  const third = failed[2] as Sample;
  const detected = third.t + third.latencyMs;
  const abortT = report.abort?.t as number;
  const rolledBack = report.rollback.completedAt as number;
  t.ok(abortT - detected >= 0 && abortT - detected < 20, `abort decided ${(abortT - detected).toFixed(1)} ms after the failing sample ended`);
  t.ok(rolledBack - detected < 250, `rules removed ${(rolledBack - detected).toFixed(1)} ms after the failing sample`);
  if (removedAt !== undefined) {
    const observed = removedAt - (Date.parse(report.startedAt) + detected);
    t.ok(observed < 300, `seen gone on GET /rules ${observed} ms after the failing sample`);
  }
  t.ok(Date.now() - startedAt < 6000);
  console.log(`# abort→rollback: decided +${(abortT - detected).toFixed(1)} ms, rules removed +${(rolledBack - detected).toFixed(1)} ms after the failing sample`);
});

t.test('a latency above the probe\'s bound aborts too', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const report = await run(experimentDoc(h, probeUrl, {
    method: [{ name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '200ms' }] }], duration: '10s' }],
  }));
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /last: slower than 150 ms/);
  t.same((await h.call('GET', '/rules')).json.rules, []);
});

t.test('the report\'s numbers are what the raw samples say (recomputed here), ramp stages included', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const report = await run(experimentDoc(h, probeUrl, {
    abort: { consecutiveFailures: 1000, window: 10 },
    method: [
      { name: 'ramp', rules: [{ name: 'errors', match: { listener: 'up', protocol: 'http' }, faults: [{ type: 'http_abort', status: 500 }] }], ramp: { probabilities: [0, 1], every: '300ms' } },
      { wait: '300ms' },
      { name: 'drop', scenario: 'service_instability', match: { listener: 'up' }, faults: [{ type: 'http_abort', probability: 1, statuses: [503] }, { type: 'http_timeout', probability: 0 }], duration: '300ms' },
    ],
  }));
  t.equal(report.verdict.result, 'passed', report.verdict.reason);
  t.equal(report.windows.length, 2);
  const [ramp, drop] = report.windows as [Report['windows'][number], Report['windows'][number]];
  t.same(ramp.probabilities.map((p) => p.probability), [0, 1]);
  const samples = report.samples.filter((s) => s.probe === 'health');
  const rampStage2 = (ramp.probabilities[1] as { t: number }).t;
  t.ok(samples.filter((s) => s.t >= ramp.start + 30 && s.t < rampStage2 - 30).every((s) => s.ok), 'stage 1 (probability 0): all ok');
  t.ok(samples.filter((s) => s.t >= rampStage2 + 30 && s.t < ramp.end - 30).every((s) => s.status === 500), 'stage 2 (probability 1): all 500');
  t.ok(samples.filter((s) => s.t >= drop.start + 30 && s.t < drop.end - 30).every((s) => s.status === 503), 'the scenario step: 503s');

  const probe = report.probes[0] as Report['probes'][number];
  const phase = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t < to);
  const check = (name: string, list: Sample[], got: Report['probes'][number]['before']) => {
    t.equal(got.samples, list.length, `${name}: samples`);
    t.equal(got.availability, list.filter((s) => s.ok).length / list.length, `${name}: availability`);
    t.equal(got.errorRate, list.filter((s) => !s.ok && !String(s.error).startsWith('slower')).length / list.length, `${name}: error rate`);
    t.equal(got.p50, nearestRank(list.map((s) => s.latencyMs), 50), `${name}: p50`);
    t.equal(got.p99, nearestRank(list.map((s) => s.latencyMs), 99), `${name}: p99`);
  };
  check('before', phase(report.phases.before.start, report.phases.before.end), probe.before);
  check('during', phase(report.phases.method.start, report.phases.method.end), probe.during);
  check('after', phase(report.phases.after.start, Infinity), probe.after);
  t.ok((probe.during.availability as number) < 0.8 && (probe.during.availability as number) > 0.2, `during: ${probe.during.availability}`);

  // Recovery: the first ok sample after each window's end, of an ok run that lasts to the next window.
  report.windows.forEach((w, i) => {
    const next = report.windows[i + 1]?.start ?? Infinity;
    const after = samples.filter((s) => s.t >= w.end && s.t < next);
    const lastBad = after.map((s) => s.ok).lastIndexOf(false);
    const firstOk = after[lastBad + 1] as Sample;
    const beforeEnd = samples.filter((s) => s.t < w.end).at(-1) as Sample;
    const expected = lastBad < 0 && beforeEnd.ok ? 0 : firstOk.t - w.end;
    t.equal(probe.recoveryMs[i], expected, `window ${w.step}: recovered ${expected} ms after it ended`);
    t.ok((probe.recoveryMs[i] as number) < 200, 'within a few probe intervals');
  });
});

t.test('a steady state that does not hold before the method fails without applying anything', async (t) => {
  const { h } = await appBehindSidecar(t);
  const report = await run(experimentDoc(h, 'http://127.0.0.1:9/closed', {
    method: [{ name: 'never', rules: [{ name: 'never', faults: [{ type: 'latency', latency: '1ms' }] }], duration: '1s' }],
  }));
  t.equal(report.verdict.result, 'failed');
  t.match(report.verdict.reason, /did not hold before the method: probe health availability 0\.0% < 100\.0%/);
  t.equal(report.windows.length, 0);
  t.equal(report.events.filter((e) => e.type === 'apply').length, 0);
});

t.test('a target that refuses the change aborts the run with the reason; rules of an earlier, dead run are cleaned up first', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  await h.call('POST', '/rules', { body: { name: 'exp.checkout.left-over', faults: [{ type: 'latency', latency: '1ms' }] } });
  await h.call('POST', '/rules', { body: { name: 'users-own', faults: [{ type: 'latency', latency: '1ms' }] } });
  const report = await run(experimentDoc(h, probeUrl, {
    method: [{ name: 'bad', rules: [{ name: 'bad', match: { listener: 'nope' }, faults: [{ type: 'latency', latency: '1ms' }] }], duration: '1s' }],
  }));
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /error: target sidecar: POST \/rules answered 400: the rule is invalid: match\.listener: no listener named "nope"/);
  t.match(report.events.find((e) => e.type === 'cleanup')?.message, /exp\.checkout\.left-over/);
  t.same((await h.call('GET', '/rules')).json.rules.map((r: { name: string }) => r.name), ['users-own'], 'the user\'s own runtime rule is untouched');
  t.equal(report.rollback.completed, true);
});

t.test('random mode: seeded draws, one bounded fault per hit', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const doc = experimentDoc(h, probeUrl, { random: { probability: 0.5, types: ['latency', 'http_delay', 'slow_backend'], interval: '120ms', duration: '960ms', faultDuration: '60ms', match: { listener: 'up' } } });
  (doc.spec as { steadyState: { probes: { maxLatency?: string }[] } }).steadyState.probes[0]!.maxLatency = '5s';
  const [a, b] = [await run(doc, 42), await run(doc, 42)];
  const steps = (r: Report) => r.windows.map((w) => w.step);
  t.same(steps(a), steps(b), 'the same seed draws the same faults');
  t.ok(steps(a).length >= 1 && steps(a).length <= 8, `${steps(a).join(', ')}`);
  t.ok(a.windows.every((w) => w.end - w.start < 60 + 80), 'each fault bounded by faultDuration');
  t.equal(a.seed, 42);
  const other = await run(doc, 7);
  t.ok(steps(other).join() !== steps(a).join() || steps(a).length === 0, 'another seed, other draws');
  t.same((await h.call('GET', '/rules')).json.rules, []);
  await sleep(1);
});
