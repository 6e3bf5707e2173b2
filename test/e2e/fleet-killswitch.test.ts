import t from 'tap';
import { startFleet, type FleetSidecar } from '../helpers/fleet.js';
import { runCli } from '../helpers/process.js';


t.test('faultline killswitch on|off -l app=shop: 20 real sidecars behind the API server\'s pod proxy', async (t) => {
  const fleet = await startFleet(t, 20);
  const states = async () => Promise.all(fleet.sidecars.map((s) => fleet.killSwitch(s)));
  const cli = (args: string[], kubeconfig = fleet.api.kubeconfig) => runCli(['killswitch', ...args, '-l', 'app=shop', '--kubeconfig', kubeconfig]);

  const on = await cli(['on']);
  t.equal(on.code, 0, `exit 0 ${on.stderr}`);
  t.same(await states(), Array(20).fill(true), 'the kill switch is on in all 20 sidecars (asked directly)');
  t.match(on.stdout, /^POD\s+RESULT\s+DETAIL\n/, 'a table');
  t.equal(on.stdout.match(/kill switch on/g)?.length, 20, 'a result per pod');
  t.match(on.stdout, /20 of 20 ok\n$/);
  const off = await cli(['off']);
  t.equal(off.code, 0);
  t.same(await states(), Array(20).fill(false), 'and off again in all 20');
  const proxied = fleet.api.requests.filter((r) => r.path.includes('/proxy/killswitch'));
  t.same(proxied.map((r) => r.method).sort(), [...Array(20).fill('DELETE'), ...Array(20).fill('POST')], 'one POST and one DELETE per pod, through the pod proxy');
  t.ok(proxied.every((r) => r.path.includes(':15000/proxy/')), 'to the sidecar\'s admin port 15000');
  t.equal(fleet.api.requests.filter((r) => r.path.includes('/secrets/')).length, 2, 'the Secret read once per command');

  // Two pods that cannot take it: one without the sidecar, one whose sidecar is not ready.
  const [a, b] = fleet.sidecars.slice(18) as [FleetSidecar, FleetSidecar];
  for (const [pod, extra] of [[a, { sidecar: 'none' as const }], [b, { ready: false }]] as const) {
    fleet.api.store.delete('v1/pods', 'shop', pod.pod);
    fleet.api.addPod({ namespace: 'shop', name: pod.pod, labels: { app: 'shop' }, ports: { 15000: pod.admin }, ...extra });
  }
  const partial = await cli(['on', '-o', 'json']);
  t.equal(partial.code, 1, 'a pod that could not be reached: exit 1');
  const report = JSON.parse(partial.stdout);
  t.match(report.summary, { targets: 20, ok: 18, failed: 1, skipped: 1 });
  t.match(report.results.find((r: { target: string }) => r.target === a.pod), { result: 'skipped', reason: 'no faultline sidecar' });
  t.match(report.results.find((r: { target: string }) => r.target === b.pod), { result: 'failed', reason: /not ready; not contacted/ });
  t.same(await states(), [...Array(18).fill(true), false, false], 'the 18 others changed; the two were not contacted');
});
