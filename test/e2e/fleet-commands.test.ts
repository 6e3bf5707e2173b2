import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { fleetReportSchema, sidecarStatusSchema } from '../../src/fleet/report.js';
import { serve } from '../helpers/admin.js';
import { startFleet } from '../helpers/fleet.js';
import { tcpServer } from '../helpers/net.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('status, rules and connections across a namespace; old and unreachable sidecars reported per pod', async (t) => {
  const fleet = await startFleet(t, 3);
  const { api } = fleet;
  const kube = ['--kubeconfig', api.kubeconfig];
  // A sidecar from before GET /status, and a pod whose sidecar does not answer.
  const old = await serve(t, createServer((req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"no such endpoint /status; see GET /"}')));
  const { server: closed, port: closedPort } = await tcpServer(t, () => {});
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  api.addPod({ namespace: 'shop', name: 'old-0', labels: { app: 'shop' }, ports: { 15000: Number(new URL(old).port) } });
  api.addPod({ namespace: 'shop', name: 'gone-0', labels: { app: 'shop' }, ports: { 15000: closedPort } });
  api.addPod({ namespace: 'shop', name: 'web-0', labels: { app: 'web' }, sidecar: 'none' });
  // A native sidecar (an init container with restartPolicy Always) is a sidecar too.
  api.addPod({ namespace: 'shop', name: 'native-0', labels: { app: 'shop' }, sidecar: 'native', ports: { 15000: fleet.sidecars[0]?.admin as number } });

  const json = await cli(['status', '-l', 'app=shop', '-o', 'json', ...kube]);
  t.equal(json.code, 1, 'a pod failed: exit 1');
  const report = fleetReportSchema.parse(JSON.parse(json.stdout));
  t.match(report, { command: 'status', namespace: 'shop', selector: 'app=shop', admin: null, interrupted: false, summary: { targets: 6, ok: 4, failed: 2, skipped: 0, notAttempted: 0 } });
  for (const result of report.results.filter((r) => r.result === 'ok')) {
    const status = sidecarStatusSchema.strict().parse(result.data);
    t.match(status, { version: '0.1.0', policy: { name: 'shop-faults', hash: /^[0-9a-f]{16}$/, source: /policy\.yaml$/, fileMissing: false, lastError: null }, interception: { mode: 'none', state: 'off' }, killSwitch: false, faultsEnabled: true, faults: [{ rule: 'slow', fault: 'latency', connections: 0 }], connections: { live: 0, faulted: 0 } }, `${result.target}: the sidecar's status`);
  }
  t.match(report.results.find((r) => r.target === 'old-0'), { result: 'failed', reason: 'sidecar too old: it has no GET /status (upgrade its image)' });
  t.match(report.results.find((r) => r.target === 'gone-0'), { result: 'failed', reason: /^unreachable through the pod proxy \(503\): error trying to reach service: dial tcp 10\.244\.0\.\d+:15000: connect: connection refused$/ });

  const yaml = await cli(['status', 'shop-00', 'shop-01', '-o', 'yaml', ...kube]);
  t.equal(yaml.code, 0);
  t.same(fleetReportSchema.parse(parse(yaml.stdout)).results.map((r) => r.target), ['shop-00', 'shop-01'], 'named pods, as YAML');
  const table = await cli(['status', ...kube]);
  t.match(table.stdout, /^POD\s+POLICY\s+HASH\s+SOURCE\s+INTERCEPTION\s+KILLSWITCH\s+FAULTS\s+CONNECTIONS\s+LAST ERROR\n/);
  t.match(table.stdout, /shop-00\s+shop-faults\s+[0-9a-f]{16}\s+\S+policy\.yaml\s+none\/off\s+off\s+1 \(0 active\)\s+0 \(0 faulted\)\s+-/);
  t.match(table.stdout, /^web-0: skipped: no faultline sidecar$/m, 'a pod without the sidecar is listed, not counted as a failure');
  t.match(table.stdout, /^gone-0: failed: unreachable through the pod proxy/m);

  // Runtime rules across the sidecars.
  const dir = tempDir(t);
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, '- name: rt-slow\n  match: {listener: up}\n  faults: [{type: latency, latency: 50ms}]\n- name: rt-reset\n  faults: [{type: reset, probability: 0.1}]\n');
  const three = ['shop-00', 'shop-01', 'shop-02'];
  const added = await cli(['rules', 'add', '-f', rules, ...three, ...kube]);
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout.match(/rt-slow added, rt-reset added/g)?.length, 3);
  const listed = JSON.parse((await cli(['rules', 'list', ...three, '-o', 'json', ...kube])).stdout);
  t.same(listed.results.map((r: any) => r.data.rules.map((x: any) => x.name)), [['rt-slow', 'rt-reset'], ['rt-slow', 'rt-reset'], ['rt-slow', 'rt-reset']]);
  const deleted = await cli(['rules', 'delete', 'rt-reset', ...three, ...kube]);
  t.equal(deleted.code, 0);
  t.match(deleted.stdout, /shop-00\s+ok\s+rt-reset deleted/);
  const again = await cli(['rules', 'delete', 'rt-reset', ...three, ...kube]);
  t.equal(again.code, 1, 'deleting a rule no pod has is a failure');
  t.match(again.stderr, /no pod has a runtime rule named "rt-reset"/);

  const before = api.requests.length;
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: x}\nspec:\n  rules:\n    - name: broken\n      faults:\n        - {type: latency, latency: fast}\n');
  const invalid = await cli(['rules', 'add', '-f', bad, '-l', 'app=shop', ...kube]);
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /^.*bad\.yaml:8:\d+: spec\.rules\[0\]\.faults\[0\]\.latency: /, 'FILE:LINE:COL from the policy loader');
  t.equal(api.requests.length, before, 'no request at all: not even the API server was asked');

  // One sidecar's connections, filtered.
  const connections = await cli(['connections', 'shop-00', '--faulted', ...kube]);
  t.equal(connections.code, 0);
  t.match(connections.stdout, /^ID\s+LISTENER\s+DIRECTION/);
  t.match(connections.stdout, /0 of 0 live connections/);
  t.ok(api.requests.some((r) => r.path === '/api/v1/namespaces/shop/pods/shop-00:15000/proxy/connections?limit=100&faulted=true'), 'GET /connections?faulted=true through the pod proxy');
});
