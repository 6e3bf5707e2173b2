import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { resultsSchema } from '../../bench/report.js';
import { tempDir } from '../helpers/sidecar.js';

// The bench harness in its quickest mode: every path that can run produces every number, and
// the JSON matches its schema. No timing is asserted here; speed is measured in bench/ only.
t.test('npm run bench -- --smoke', async (t) => {
  const out = tempDir(t);
  const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../bench/run.ts', import.meta.url)), '--smoke', '--out', out], { encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, run.stderr.slice(-500));
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json')) as string;
  t.ok(json, 'a JSON result');
  t.ok(files.some((f) => f.endsWith('.md')), 'a Markdown table');
  t.ok(files.some((f) => f.endsWith('.svg')), 'an SVG chart');
  const results = resultsSchema.parse(JSON.parse(readFileSync(join(out, json), 'utf8')));
  const ran = Object.entries(results.paths).filter(([, p]) => !p.unsupported);
  t.ok(ran.length >= 5, `${ran.length} paths ran`);
  for (const name of ['direct', 'sidecar-no-policy', 'sidecar-no-match', 'sidecar-latency-0', 'node-pipe']) t.ok(results.paths[name] && !results.paths[name]?.unsupported, `${name} ran`);
  for (const [name, path] of ran) {
    for (const figure of ['bulkMiBs', 'echoP50us', 'echoP99us', 'httpRps', 'connPerSec', 'grpcRps', 'wsMsgs'] as const) {
      t.ok(typeof path[figure] === 'number' && (path[figure] as number) > 0, `${name}: ${figure} = ${path[figure]}`);
    }
    if (name !== 'direct') t.ok(typeof path.idleKiBPerConn === 'number', `${name}: idle memory measured`);
  }
  t.match(readFileSync(join(out, files.find((f) => f.endsWith('.svg')) as string), 'utf8'), /^<svg /);
});
