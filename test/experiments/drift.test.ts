import t from 'tap';
import { loadExperiment } from '../../src/experiments/load.js';
import { renderHtml } from '../../src/experiments/report-html.js';
import { ExperimentRunner } from '../../src/experiments/runner.js';
import { appBehindSidecar, experimentDoc, yamlOf } from '../helpers/experiment.js';
import { httpUpstream } from '../helpers/http.js';

const run = (doc: Record<string, unknown>) => new ExperimentRunner({ doc: loadExperiment(yamlOf(doc), 'e.yaml'), file: 'e.yaml', seed: 1 }).run();

/** A shadow that answers like the default test upstream, or differently when `drifts`. */
async function shadow(t: Parameters<typeof appBehindSidecar>[0], drifts: boolean): Promise<number> {
  const { port } = await httpUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(drifts ? 'a DR copy that answers otherwise' : `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname} 0`));
  });
  return port;
}

const drStep = (port: number) => ({
  name: 'dr',
  rules: [{ name: 'dr', match: { listener: 'up', protocol: 'http' }, faults: [{ type: 'mirror', upstream: `127.0.0.1:${port}` }] }],
  duration: '20s',
});

t.test('a DR drill aborts when the shadow drifts over driftRatio, and the report says how much', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const report = await run(experimentDoc(h, probeUrl, { abort: { driftRatio: 0.1, driftMinRequests: 20 }, method: [drStep(await shadow(t, true))] }));
  t.equal(report.verdict.result, 'aborted');
  t.match(report.verdict.reason, /mirror rule exp\.checkout\.dr on sidecar drifted on 100% of \d+ compared requests \(over 10%\)/);
  t.ok(report.durationMs < 10_000, `it did not wait for the step's 20 s (${report.durationMs} ms)`);
  t.ok(report.events.some((e) => e.type === 'abort' && e.condition === 'drift'), 'an abort event');
  const rule = report.drift?.targets[0]?.rules.find((r) => r.rule === 'exp.checkout.dr');
  t.ok(rule && rule.drift >= 20 && rule.match === 0 && rule.driftRatio === 1, `drift in the report: ${JSON.stringify(rule)}`);
  t.same((await h.call('GET', '/rules')).json.rules, [], 'the mirror rule is rolled back');
  t.match(renderHtml(report), /<h2>Shadow traffic<\/h2>.*exp\.checkout\.dr<\/td><td>0<\/td><td>\d+<\/td>.*100\.0%/s);
});

t.test('a shadow that answers alike: the drill passes, with its match count in the report', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const step = { ...drStep(await shadow(t, false)), duration: '1s' };
  const report = await run(experimentDoc(h, probeUrl, { abort: { driftRatio: 0.1 }, method: [step] }));
  t.equal(report.verdict.result, 'passed', report.verdict.reason);
  const rule = report.drift?.targets[0]?.rules[0];
  t.ok(rule && rule.match >= 10 && rule.drift === 0 && rule.driftRatio === 0, `matches in the report: ${JSON.stringify(rule)}`);
  const none = await run(experimentDoc(h, probeUrl, { method: [{ name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '1ms' }] }], duration: '200ms' }] }, 'plain'));
  t.equal(none.drift, null, 'no mirror rule in the run: no drift section');
});
