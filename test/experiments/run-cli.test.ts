import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runExperiment } from '../../src/cli/commands/run.js';
import { drawRandom } from '../../src/experiments/random.js';
import { BIN, runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';
import { appBehindSidecar, experimentDoc, yamlOf } from '../helpers/experiment.js';

t.test('Ctrl-C (SIGINT) during a step rolls every fault back, then reports', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const dir = tempDir(t);
  const file = join(dir, 'e.yaml');
  writeFileSync(file, yamlOf(experimentDoc(h, probeUrl, {
    method: [{ name: 'long', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '5ms' }] }, { name: 'capped', match: { listener: 'up' }, faults: [{ type: 'bandwidth', rate: '1MiB/s' }] }], duration: '60s' }],
  })));
  const child = spawn(process.execPath, [BIN, 'run', file, '--output', join(dir, 'report.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  let out = '';
  const applied = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => ((out += d), /\bapply\b/.test(out) && resolve())));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await Promise.race([applied, new Promise((_, reject) => setTimeout(() => reject(new Error(`no apply line: ${out}`)), 15_000))]);
  t.same((await h.call('GET', '/rules')).json.rules.map((r: { name: string }) => r.name), ['exp.checkout.slow', 'exp.checkout.capped'], 'the step\'s rules are in force');
  const interruptedAt = Date.now();
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
  t.equal(code, 1, 'exit 1: aborted');
  t.ok(Date.now() - interruptedAt < 3000, `it stopped at once (${Date.now() - interruptedAt} ms), not after the step's 60 s`);
  t.same((await h.call('GET', '/rules')).json.rules, [], 'every rule rolled back');
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
  t.match(report.verdict, { result: 'aborted', reason: 'interrupted by SIGINT' });
  t.equal(report.rollback.completed, true);
  t.same(report.rollback.targets[0].removed.sort(), ['exp.checkout.capped', 'exp.checkout.slow']);
  t.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<svg class="timeline"/, 'the HTML page beside the JSON');
  t.match(out, /^\[\s*\d+\.\ds\] apply\s+long: applied exp\.checkout\.slow, exp\.checkout\.capped on sidecar for 60000 ms$/m, 'plain lines when stdout is not a TTY');
  t.match(out, /rollback complete in/);
  t.match(out, /^verdict: ABORTED: interrupted by SIGINT$/m);
});

t.test('usage errors exit 2; an invalid experiment file gives FILE:LINE:COL lines', async (t) => {
  const flag = await runCli(['run', '--nope']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /unknown option '--nope'/);
  await t.rejects(runExperiment(undefined, { name: 'random' }), { code: 'FL_ERR_USAGE', message: /give an experiment file, or --random/ });
  await t.rejects(runExperiment(undefined, { name: 'random', random: true, probability: 0.5 }), { message: /needs --target URL/ });
  await t.rejects(runExperiment(undefined, { name: 'random', random: true, target: ['http://127.0.0.1:1'], probeUrl: 'http://127.0.0.1:1/' }), { message: /the random experiment is not valid:\n {2}spec\.random\.probability: required field is missing/ });
  await t.rejects(runExperiment('/nonexistent/e.yaml', { name: 'x' }), { message: /file not found/ });
  const dir = tempDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: bad}
spec:
  targets: [{name: s, admin: {url: "http://127.0.0.1:15000"}}]
  steadyState:
    probes: [{name: p, http: {url: "http://127.0.0.1:8080/"}, interval: often}]
  method:
    - name: boom
      scenario: network_degredation
      duration: 5s
`);
  const bad = await runCli(['run', file]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, new RegExp(`^${file}:7:73: spec\\.steadyState\\.probes\\[0\\]\\.interval: invalid duration "often"`, 'm'));
  t.match(bad.stderr, new RegExp(`^${file}:10:17: spec\\.method\\[0\\]\\.scenario: unknown scenario "network_degredation" \\(known: network_degradation,`, 'm'));
  const example = new URL('../../examples/experiment.yaml', import.meta.url).pathname;
  const validated = await runCli(['validate', file, example]);
  t.equal(validated.code, 1, 'faultline validate reads experiment files too');
  t.match(validated.stdout, /:10:17: spec\.method\[0\]\.scenario: unknown scenario/);
  t.match(validated.stdout, new RegExp(`^${example}: ok$`, 'm'), 'the example is valid');
});

t.test('random mode from flags alone: seeded, bounded, reported', async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const dir = tempDir(t);
  const args = (out: string) => ['run', '--random', '--probability', '0.6', '--types', 'latency,bandwidth', '--interval', '150ms', '--duration', '900ms', '--fault-duration', '80ms',
    '--target', h.admin, '--token-file', h.tokenFile, '--listener', 'up', '--probe-url', probeUrl, '--probe-interval', '25ms', '--seed', '11', '--before', '200ms', '--after', '200ms', '--output', join(dir, out), '--quiet'];
  const first = await runCli(args('a.json'));
  const a = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
  // The draws of seed 11 (probability 0.6 over 6 intervals), as drawRandom makes them.
  const expected = drawRandom({ probability: 0.6, types: ['latency', 'bandwidth'], interval: 150, duration: 900 }, 11).filter((d) => d.type).map((d) => `random-${d.tick + 1}-${(d.type as string).replace('_', '-')}`);
  t.same(a.windows.map((w: { step: string }) => w.step), expected, 'the seed decides the faults');
  t.ok(a.windows.length > 0, a.windows.map((w: { step: string }) => w.step).join(', '));
  t.equal(a.seed, 11);
  t.ok([0, 1].includes(first.code as number), `exit ${first.code}`);
  t.match(first.stdout, /^verdict: /m);
  t.notMatch(first.stdout, /\bapply\b/, '--quiet prints no event lines');
  t.same((await h.call('GET', '/rules')).json.rules, []);

  const printed = await runCli(args('unused.json').map((a) => (a === '--output' ? '-o' : a.endsWith('unused.json') ? 'json' : a)));
  const report = JSON.parse(printed.stdout) as { seed: number; windows: { step: string }[] };
  t.equal(report.seed, 11, '-o json prints the report itself on stdout');
  t.same(report.windows.map((w) => w.step), expected, 'the same run');
  t.match(printed.stderr, /^verdict: /m, 'and the summary on stderr');
});
