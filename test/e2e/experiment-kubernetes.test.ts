import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startFleet } from '../helpers/fleet.js';
import { echoServer } from '../helpers/net.js';
import { BIN } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('an experiment with a kubernetes target pushes its rules to every chosen pod, and SIGINT rolls them back on each, verified', async (t) => {
  const fleet = await startFleet(t, 3);
  const { port: probe } = await echoServer(t);
  const dir = tempDir(t);
  const file = join(dir, 'e.yaml');
  writeFileSync(file, stringify({
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'gameday' },
    spec: {
      targets: [{ name: 'shop', kubernetes: { namespace: 'shop', selector: { matchLabels: { app: 'shop' } }, mode: 'fixed', value: 2, kubeconfig: fleet.api.kubeconfig } }],
      steadyState: { before: '200ms', after: '200ms', probes: [{ name: 'tcp', tcp: { address: `127.0.0.1:${probe}` }, interval: '50ms' }] },
      method: [{ name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '5ms' }] }], duration: '60s' }],
    },
  }));
  const rulesOf = async (admin: number) => ((await (await request(`http://127.0.0.1:${admin}/rules`)).body.json()) as { rules: { name: string; expiresAt?: string }[] }).rules;
  const child = spawn(process.execPath, [BIN, 'run', file, '--output', join(dir, 'report.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  let out = '';
  const applied = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => ((out += d), /\bapply\b/.test(out) && resolve())));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await Promise.race([applied, new Promise((_, reject) => setTimeout(() => reject(new Error(`no apply line: ${out}`)), 60_000))]);
  const before = await Promise.all(fleet.sidecars.map(async (s) => (await rulesOf(s.admin)).map((r) => r.name)));
  t.equal(before.filter((names) => names.includes('exp.gameday.slow')).length, 2, `mode fixed, value 2: two of the three pods got the rule (${before.map((n) => n.join(',') || '-').join(' | ')})`);
  t.ok((await rulesOf(fleet.sidecars.find((_, i) => before[i]?.length)?.admin as number))[0]?.expiresAt, 'with expiresAt, so it ends even if the runner dies');
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
  t.equal(code, 1, `exit 1: aborted (${out.slice(-400)})`);
  for (const s of fleet.sidecars) t.same(await rulesOf(s.admin), [], `${s.pod}: rolled back`);
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
  t.match(report.verdict, { result: 'aborted', reason: 'interrupted by SIGINT' });
  t.match(report.rollback, { completed: true, targets: [{ target: 'shop', removed: ['exp.gameday.slow'] }] });
  t.notOk(report.rollback.targets[0].error, 'the rollback listed every pod afterwards and found nothing left');
  const proxied = fleet.api.requests.filter((r) => r.path.includes('/proxy/rules'));
  t.ok(proxied.some((r) => r.method === 'DELETE') && proxied.every((r) => r.user === 'tester'), 'through the API server\'s pod proxy, as the kubeconfig\'s user');
});
