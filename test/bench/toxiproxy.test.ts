import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { resultsSchema } from '../../bench/report.js';
import { FAKE_TOXIPROXY, leftOf, processesOf, startBench } from '../helpers/bench.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('--toxiproxy PATH that is not an executable: one line, exit 2, nothing started', async (t) => {
  const run = startBench(['--smoke', '--toxiproxy', '/nonexistent/toxiproxy-server']);
  t.equal(await run.exited, 2);
  t.equal(run.stderr(), 'bench: --toxiproxy /nonexistent/toxiproxy-server: not an executable file (give the path of a toxiproxy-server binary)\n');
  t.same(processesOf(run.id), []);
});

t.test('--paths naming no path: one line, exit 2', async (t) => {
  const run = startBench(['--smoke', '--paths', 'sidecar-no-policy,nope']);
  t.equal(await run.exited, 2);
  t.match(run.stderr(), /^bench: --paths: no path named "nope" \(paths: direct, node-pipe, sidecar-no-policy, /);
});

t.test('without --toxiproxy, Toxiproxy is skipped with a line saying so', async (t) => {
  const out = tempDir(t);
  const run = startBench(['--smoke', '--out', out, '--paths', 'direct']);
  t.equal(await run.exited, 0, 'exit 0', { stderr: run.stderr().slice(-400) });
  t.match(run.stderr(), /^toxiproxy: skipped \(no --toxiproxy PATH given\)$/m);
  t.match(run.stdout(), /- toxiproxy: not measured \(no --toxiproxy PATH given\)/);
  const json = readdirSync(out).find((f) => f.endsWith('.json')) as string;
  const results = resultsSchema.parse(JSON.parse(readFileSync(join(out, json), 'utf8')));
  t.same(Object.keys(results.paths), ['direct', 'node-pipe'], '--paths keeps the references only');
});

t.test('--toxiproxy PATH: Toxiproxy is a peer path, driven through its API, with and without a 0 ms latency toxic', async (t) => {
  // The stand-in serves faultline's own Toxiproxy v2 API, started as toxiproxy-server is.
  const out = tempDir(t);
  const run = startBench(['--smoke', '--out', out, '--toxiproxy', FAKE_TOXIPROXY, '--paths', 'toxiproxy,toxiproxy-latency-0']);
  t.equal(await run.exited, 0, 'exit 0', { stderr: run.stderr().slice(-400) });
  t.notMatch(run.stderr(), /toxiproxy: skipped/);
  const json = readdirSync(out).find((f) => f.endsWith('.json')) as string;
  const results = resultsSchema.parse(JSON.parse(readFileSync(join(out, json), 'utf8')));
  for (const name of ['toxiproxy', 'toxiproxy-latency-0']) {
    const path = results.paths[name];
    t.notOk(path?.unsupported, `${name} started`);
    for (const figure of ['bulkMiBs', 'echoP50us', 'httpRps', 'connPerSec', 'grpcRps', 'wsMsgs'] as const) t.ok((path?.[figure] as number) > 0, `${name}: ${figure}`);
    t.ok((results.ratios[name]?.httpRps?.median as number) > 0, `${name}: in the paired ratios`);
    t.match(run.stdout(), new RegExp(`^\\| ${name} \\| \\d`, 'm'), `${name}: a row of the table`);
  }
  t.same(await leftOf(run.id), [], 'no process of the run is left');
});
