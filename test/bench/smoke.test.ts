import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { resultsSchema } from '../../bench/report.js';
import { leftOf, startBench } from '../helpers/bench.js';
import { tempDir } from '../helpers/sidecar.js';

// The bench harness in its quickest mode: every path that can run produces every number, and
// the JSON matches its schema. No timing is asserted here; speed is measured in bench/ only.
t.test('npm run bench -- --smoke', async (t) => {
  const out = tempDir(t);
  const run = startBench(['--smoke', '--out', out]);
  t.equal(await run.exited, 0, 'exit 0', { stderr: run.stderr().slice(-500) });
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json')) as string;
  t.ok(json, 'a JSON result');
  const md = files.find((f) => f.endsWith('.md')) as string;
  t.ok(md, 'a Markdown table');
  t.ok(files.some((f) => f.endsWith('.svg')), 'an SVG chart');
  const results = resultsSchema.parse(JSON.parse(readFileSync(join(out, json), 'utf8')));
  const ran = Object.entries(results.paths).filter(([, p]) => !p.unsupported);
  t.ok(ran.length >= 5, `${ran.length} paths ran`);
  for (const name of ['direct', 'node-pipe', 'sidecar-no-policy', 'sidecar-no-match', 'sidecar-latency-0']) t.ok(results.paths[name] && !results.paths[name]?.unsupported, `${name} ran`);
  for (const [name, path] of ran) {
    for (const figure of ['bulkMiBs', 'echoP50us', 'echoP99us', 'httpRps', 'connPerSec', 'grpcRps', 'wsMsgs'] as const) {
      t.ok(typeof path[figure] === 'number' && (path[figure] as number) > 0, `${name}: ${figure} = ${path[figure]}`);
    }
    if (name === 'direct') continue;
    t.ok(typeof path.idleKiBPerConn === 'number', `${name}: idle memory measured`);
    t.ok((path.connCpuUs as number) > 0 && (path.bulkCpuSPerGiB as number) > 0, `${name}: the proxy's CPU per connection and per GiB`);
    t.ok(results.spread[name]?.bulkMiBs?.n === 1, `${name}: each figure with its samples`);
    if (name !== 'node-pipe') t.ok((results.ratios[name]?.connPerSec?.median as number) > 0, `${name}: paired ratios to node-pipe`);
  }
  for (const config of ['sidecar-no-policy', 'node-pipe']) t.equal(results.fresh?.configs[config]?.mibs.length, 1, `bulk in a fresh ${config} process`);
  t.equal(results.checked, false, 'a smoke run checks no target');
  t.same(results.missed, []);
  const text = readFileSync(join(out, md), 'utf8');
  t.match(text, /Targets not checked \(smoke run/);
  t.notMatch(text, /target.*met/i, 'and does not claim that the targets were met');
  t.match(readFileSync(join(out, files.find((f) => f.endsWith('.svg')) as string), 'utf8'), /^<svg /);
  t.same(await leftOf(run.id), [], 'no process of the run is left');
});
