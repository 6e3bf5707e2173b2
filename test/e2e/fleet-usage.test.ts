import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fleetReportSchema } from '../../src/fleet/report.js';
import { startFleet } from '../helpers/fleet.js';
import { cli } from '../helpers/cli.js';
import { BIN, runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('usage errors exit 2 before anything is asked; a namespace that does not exist exits 1', async (t) => {
  const fleet = await startFleet(t, 1);
  const kube = ['--kubeconfig', fleet.api.kubeconfig];
  const cases: [string[], RegExp][] = [
    [['status', '-l', 'app in (shop', ...kube], /-l "app in \(shop": expected "," or "\)"/],
    [['killswitch', 'on', '-l', 'app=shop,', ...kube], /expected a label key, found the end/],
    [['status', '-o', 'wide', ...kube], /-o: "wide" must be table, json or yaml/],
    [['killswitch', 'maybe', ...kube], /"maybe" must be on or off/],
    [['status', '--bogus', ...kube], /unknown option/],
    [['status', '--timeout', 'soon', ...kube], /--timeout/],
    [['status', '-l', 'app=shop', 'shop-00', ...kube], /-l SELECTOR or POD names, not both/],
    [['connections', ...kube], /give one POD, or --admin URL/],
    [['status', '--admin', 'http://127.0.0.1:1', '-n', 'shop'], /--admin URL talks to one sidecar: drop -n/],
    [['rules', 'add', ...kube], /required option '-f, --filename <file>'/],
    [['status', '--context', 'nope', ...kube], /no context "nope"/],
  ];
  const before = fleet.api.requests.length;
  for (const [args, message] of cases) {
    const { code, stderr } = await cli(args);
    t.equal(code, 2, `${args.join(' ')}: exit 2`);
    t.match(stderr, message);
  }
  t.equal(fleet.api.requests.length, before, 'the API server was never asked');
  const real = await runCli(['status', '-l', 'app in (shop', ...kube]);
  t.equal(real.code, 2, 'and the faultline process exits 2');
  t.match(real.stderr, /^faultline: -l "app in \(shop": /);
  const missing = await cli(['status', '-n', 'nowhere', ...kube]);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'faultline: namespace "nowhere" does not exist\n');
  const context = await cli(['status', '--context', 'other', ...kube]);
  t.equal(context.stderr, 'faultline: namespace "elsewhere" does not exist\n', 'the namespace of --context');
  const none = await cli(['status', '-l', 'app=nothing', ...kube]);
  t.equal(none.code, 1);
  t.match(none.stderr, /no pod in namespace shop matches -l app=nothing/);
});

t.test('--admin URL: the same commands against one local sidecar, the token from --token-file or FAULTLINE_ADMIN_TOKEN', async (t) => {
  const fleet = await startFleet(t, 1);
  const url = `http://127.0.0.1:${fleet.sidecars[0]?.admin}`;
  const dir = tempDir(t);
  const token = join(dir, 'token');
  writeFileSync(token, `${fleet.tokens.killswitch}\n`);
  const on = await cli(['killswitch', 'on', '--admin', url, '--token-file', token]);
  t.equal(on.code, 0, on.stderr);
  t.match(on.stdout, new RegExp(`${url.replace(/[.:/]/g, '\\$&')}\\s+kill switch on`));
  const off = await cli(['killswitch', 'off', '--admin', url], { env: { FAULTLINE_ADMIN_TOKEN: fleet.tokens.rules } });
  t.equal(off.code, 0);
  const weak = await cli(['killswitch', 'on', '--admin', url], { env: { FAULTLINE_ADMIN_TOKEN: fleet.tokens.view } });
  t.equal(weak.code, 1);
  t.match(weak.stdout, /failed\s+the sidecar refused the credential \(403\): this call needs the "killswitch" credential/);
  const status = JSON.parse((await cli(['status', '--admin', url, '-o', 'json'])).stdout);
  t.match(status.results[0], { target: url, result: 'ok', data: { killSwitch: false } }, 'reads on loopback need no token');
  const nowhere = await cli(['status', '--admin', 'http://127.0.0.1:1']);
  t.equal(nowhere.code, 1);
  t.match(nowhere.stdout, /^http:\/\/127\.0\.0\.1:1: failed: cannot reach http:\/\/127\.0\.0\.1:1: ECONNREFUSED$/m);
});

t.test('Ctrl-C during a fleet command: calls in flight finish, the rest are named as not attempted, exit 1', async (t) => {
  const fleet = await startFleet(t, 4);
  // Slow pods (the proxy holds each call), one at a time: an interrupt lands mid-way.
  for (const s of fleet.sidecars) {
    fleet.api.store.delete('v1/pods', 'shop', s.pod);
    fleet.api.addPod({ namespace: 'shop', name: s.pod, labels: { app: 'shop' }, ports: { 15000: s.admin }, proxyDelayMs: 400 });
  }
  const child = spawn(process.execPath, [BIN, 'killswitch', 'on', '-l', 'app=shop', '--concurrency', '1', '-o', 'json', '--kubeconfig', fleet.api.kubeconfig]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  while (!fleet.api.requests.some((r) => r.path.includes('/proxy/killswitch'))) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  t.equal(await exited, 1, 'exit 1');
  const report = fleetReportSchema.parse(JSON.parse(stdout));
  t.equal(report.interrupted, true);
  const done = report.results.filter((r) => r.result === 'ok').map((r) => r.target);
  const skipped = report.results.filter((r) => r.result === 'not-attempted').map((r) => r.target);
  t.ok(done.length >= 1, `the call in flight finished (${done.join(', ')})`);
  t.ok(skipped.length >= 1, 'the rest were not attempted');
  t.match(stderr, new RegExp(`interrupted; not attempted: ${skipped.join(', ')}`), 'and are named');
  const states = await Promise.all(fleet.sidecars.map((s) => fleet.killSwitch(s)));
  t.same(fleet.sidecars.filter((_, i) => states[i]).map((s) => s.pod), done, 'exactly the pods reported done have the kill switch');
  const status = fleetReportSchema.parse(JSON.parse((await cli(['status', '-o', 'json', '--kubeconfig', fleet.api.kubeconfig])).stdout));
  t.same(status.results.filter((r) => (r.data as { killSwitch: boolean }).killSwitch).map((r) => r.target), done, 'and status shows which');
});
