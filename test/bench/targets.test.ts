import t from 'tap';
import { markdown, resultsSchema, spreadPct, stats, svg, type Results } from '../../bench/report.js';
import { imageEnv } from '../../bench/runtime.js';
import { check, TARGETS } from '../../bench/targets.js';

const s = (median: number, min = median, max = median, n = 5) => ({ median, min, max, n });

/** A full run's results that meet every target; tests change one figure at a time. */
function passing(): Results {
  return resultsSchema.parse({
    version: 2,
    startedAt: '2026-01-01T00:00:00.000Z',
    mode: 'full',
    placement: 'test',
    rounds: 5,
    node: 'v20',
    paths: {
      direct: { describe: 'direct', connPerSec: 4000 },
      'node-pipe': { describe: 'pipe', connPerSec: 2000, idleKiBPerConn: 6.5 },
      'sidecar-no-policy': { describe: 'sidecar', connPerSec: 1990, idleKiBPerConn: 6.8 },
    },
    spread: { 'sidecar-no-policy': { connPerSec: s(1990, 1900, 2100) } },
    ratios: {
      'sidecar-no-policy': { connPerSec: s(0.99), echoP50us: s(1.01), httpRps: s(0.99), bulkMiBs: s(1.0) },
      'sidecar-http-no-match': { httpRps: s(0.9) },
    },
    fresh: { bytes: 1, processes: 3, configs: { 'sidecar-no-policy': { describe: '', mibs: [600, 620, 640], cpuSPerGiB: [1, 1, 1], faultsPerGiB: [0, 0, 0] }, 'node-pipe': { describe: '', mibs: [610, 630, 600], cpuSPerGiB: [1, 1, 1], faultsPerGiB: [0, 0, 0] } } },
    accuracy: { latencyErrorP50Ms: 1, latencyErrorP99Ms: 5, bandwidthErrorPct: { '1MiB/s': -2 }, probabilityError: 0.01, reloadToEffectMs: 20 },
    notes: [],
    checked: true,
    missed: [],
  });
}

t.test('a run meeting every target misses none; each target can be missed', (t) => {
  t.same(check(passing()), []);
  const cases: [string, (r: Results) => void, RegExp][] = [
    ['new connections', (r) => ((r.ratios['sidecar-no-policy'] as Record<string, unknown>).connPerSec = s(0.94)), /new connections\/s vs node-pipe: 0\.940 < 0\.95/],
    ['echo p50', (r) => ((r.ratios['sidecar-no-policy'] as Record<string, unknown>).echoP50us = s(1.06)), /echo p50 vs node-pipe: 1\.060 > 1\.05/],
    ['one slow fresh process', (r) => ((r.fresh?.configs['sidecar-no-policy'] as { mibs: number[] }).mibs = [600, 620, 300]), /the slowest sidecar vs the median node-pipe: 0\.492 < 0\.95/],
    ['idle memory', (r) => ((r.paths['sidecar-no-policy'] as { idleKiBPerConn?: number }).idleKiBPerConn = 7.5), /KiB per idle connection: 7\.500 > 7/],
    ['not measured', (r) => delete r.fresh, /fresh processes.*: not measured/],
    ['idle memory not resolved (RSS fell)', (r) => ((r.paths['sidecar-no-policy'] as { idleKiBPerConn?: number }).idleKiBPerConn = -1.66), /KiB per idle connection: not measured/],
  ];
  for (const [name, change, expected] of cases) {
    const r = passing();
    change(r);
    const missed = check(r);
    t.equal(missed.length, 1, name);
    t.match(missed[0], expected, name);
  }
  t.end();
});

t.test('on-demand ratios are held within 0.98-1.02 both ways, and only where measured', (t) => {
  const direct = { rps: 1, p50us: 1, echoP50us: 1 };
  const withOnDemand = (rps: number, echo: number) => {
    const r = passing();
    r.transparent = { direct, intercepted: direct, onDemand: direct, onDemandRatios: { rps: s(rps), p50us: s(1), echoP50us: s(echo) } };
    return check(r);
  };
  t.same(withOnDemand(1, 1), []);
  t.match(withOnDemand(1.03, 1), [/requests\/s vs no interception \(paired, interquartile mean\): 1\.030 > 1\.02/]);
  t.match(withOnDemand(1, 0.97), [/echo p50 vs no interception \(paired, interquartile mean\): 0\.970 < 0\.98/]);
  t.same(check(passing()), [], 'not measured (no root): no miss');
  t.ok(TARGETS.every((x) => x.min !== undefined || x.max !== undefined), 'every target has a bound');
  t.end();
});

t.test('stats, spread and the report', (t) => {
  t.same(stats([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3, trimmedMean: 2 });
  t.same(stats([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4, trimmedMean: 2.5 });
  t.equal(stats([100, 1, 2, 3, 4, 5, 6, -50]).trimmedMean, 3.5, 'the interquartile mean leaves out a quarter at each end');
  t.equal(spreadPct(s(100, 90, 104)), ' ±10%');
  t.equal(spreadPct(s(100, 100, 100, 1)), '', 'one sample: no spread');
  const r = passing();
  t.match(markdown(r), /\| sidecar-no-policy \| .*1990 \(0\.50x\) ±6%/, 'a cell: median, ratio to direct, spread');
  t.match(markdown(r), /Every target in bench\/targets\.ts met\./);
  r.checked = false;
  t.match(markdown(r), /Targets not checked/);
  t.notMatch(markdown(r), /met\./);
  t.end();
});

t.test("the bench runs the sidecar with the image's environment", (t) => {
  t.match(imageEnv(), { GLIBC_TUNABLES: /glibc\.malloc\.trim_threshold=\d+/ }, "the Dockerfile's runtime stage sets the allocator's trimming");
  t.same(imageEnv('FROM a AS build\nENV A=1\nFROM b\nENV B=2\nRUN x\nENV C=3 D=4\n'), { B: '2' }, 'the last stage only, one KEY=VALUE per line');
  t.end();
});

t.test('the chart: an axis as long as the largest ratio, no bar cut short; a negative idle figure says why', (t) => {
  const r = passing();
  (r.paths['sidecar-no-policy'] as Record<string, unknown>).connPerSec = 12800;
  const chart = svg(r);
  t.match(chart, />3\.20x</, 'the label says the real ratio');
  t.match(chart, />3\.5x</, 'the axis goes past it');
  t.match(chart, />1\.0x</);
  const widths = [...chart.matchAll(/<rect x="200" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
  t.equal(Math.max(...widths).toFixed(1), ((3.2 / 3.5) * 480).toFixed(1), 'the bar is 3.2x long on a 3.5x axis');
  t.ok(widths.includes(Number(((0.5 / 3.5) * 480).toFixed(1))), 'and the 0.5x bar half of 1x');
  (r.paths['node-pipe'] as Record<string, unknown>).idleKiBPerConn = -0.4;
  t.match(markdown(r), /~0 \(RSS fell by 0\.40: below what RSS resolves\)/);
  t.end();
});
