import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { Demand } from '../../src/interception/demand.js';
import type { RuleInstaller } from '../../src/interception/helper-client.js';
import { OnDemandInterception } from '../../src/interception/on-demand.js';
import type { Installed } from '../../src/interception/rule-keeper.js';
import type { Connection } from '../../src/proxy/connection.js';
import { sleep, waitFor } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

/** An installer that records what it is asked, and fails while `failing` is set. */
class FakeInstaller implements RuleInstaller {
  applied: Demand[] = [];
  prunes: boolean[] = [];
  failing = false;
  lingering = false;

  async apply(demand: Demand): Promise<Installed> {
    if (this.failing) throw new Error('iptables-restore: boom');
    this.applied.push(structuredClone(demand));
    const rules = [...demand.redirect, ...demand.partition].map((s) => `rule ${JSON.stringify(s)}`);
    if (rules.length === 0) this.lingering = true;
    return { rules, lingering: this.lingering ? ['iptables -t nat -A FAULTLINE_REDIRECT ...'] : [], leaseEnd: rules.length ? Date.now() + 1000 : 0 };
  }

  async prune(nat: boolean): Promise<Installed> {
    this.prunes.push(nat);
    if (nat) this.lingering = false;
    return { rules: [], lingering: this.lingering ? ['iptables -t nat -A FAULTLINE_REDIRECT ...'] : [], leaseEnd: 0 };
  }
}

const SLOW = `    - name: slow
      match: {direction: outbound, ports: [6379]}
      faults: [{type: latency, latency: 10ms}]`;
const log = pino({ level: 'silent' });

async function setup(t: Test, rules?: string, capture = { inbound: true, outbound: true }) {
  const h = await startSidecar(t, 1, rules);
  const installer = new FakeInstaller();
  const controller = new OnDemandInterception(h.sidecar, installer, { leaseMs: 1000, capture, log });
  h.sidecar.interception = controller;
  await controller.start();
  t.teardown(() => controller.stop());
  const metric = async (name: 'interceptionChanges' | 'interceptionRules', action?: string) => {
    const { values } = await h.sidecar.metrics[name].get();
    return values.find((v) => action === undefined || v.labels.action === action)?.value ?? 0;
  };
  return { ...h, installer, controller, metric };
}

t.test('follows the policy: installs what a fault needs, removes it when it stops', async (t) => {
  const h = await setup(t);
  t.same(h.installer.applied, [], 'no fault at start: the installer is never called');
  t.match(h.controller.view(), { mode: 'on-demand', installed: false, rules: [], changedAt: null, leaseUntil: null, lastError: null });

  h.write(SLOW);
  t.ok(await waitFor(() => h.installer.applied.length === 1), 'a file reload installs');
  t.same(h.installer.applied[0], { redirect: [{ direction: 'outbound', ports: [6379] }], partition: [], dns: false, loss: [] });
  t.match(h.controller.view(), { installed: true, rules: [/6379/], changedAt: String, leaseUntil: String });
  t.equal(await h.metric('interceptionChanges', 'install'), 1);
  t.equal(await h.metric('interceptionRules'), 1);

  await sleep(450);
  t.ok(h.installer.applied.length >= 2, 'the lease is renewed every third of it');
  t.equal(await h.metric('interceptionChanges', 'install'), 1, 'a renewal is not a change');
  t.equal(await h.metric('interceptionChanges', 'update'), 0);

  h.write(SLOW.replace('6379', '6380'));
  t.ok(await waitFor(() => h.installer.applied.at(-1)?.redirect[0]?.ports?.[0] === 6380), 'a changed rule updates');
  t.equal(await h.metric('interceptionChanges', 'update'), 1);

  h.sidecar.engine.killSwitch = true;
  h.sidecar.refreshAll();
  await h.sidecar.settled();
  t.same(h.installer.applied.at(-1), { redirect: [], partition: [], dns: false, loss: [] }, 'the kill switch removes everything');
  t.same(h.installer.prunes, [true], 'and, with no redirected connection open, the nat hooks too');
  t.match(h.controller.view(), { installed: false, rules: [], lingering: [] });
  t.equal(await h.metric('interceptionChanges', 'remove'), 1);
  t.equal(await h.metric('interceptionRules'), 0);
  const count = h.installer.applied.length;
  await sleep(450);
  t.equal(h.installer.applied.length, count, 'nothing installed: nothing renewed');
});

t.test('a redirected connection keeps the lingering chain until it closes', async (t) => {
  const h = await setup(t, SLOW);
  const fake = { meta: { direction: 'outbound' }, refresh: () => undefined } as unknown as Connection;
  h.sidecar.connections.add(fake);
  h.write(undefined);
  t.ok(await waitFor(() => h.installer.prunes.length === 1));
  t.same(h.installer.prunes, [false], 'a connection redirected before is still open: nat stays');
  t.match(h.controller.view(), { installed: false, lingering: [/FAULTLINE_REDIRECT/] });
  h.sidecar.connections.delete(fake);
  t.ok(await waitFor(() => h.installer.prunes.length === 2, 1500), 'the next tick prunes');
  t.same(h.installer.prunes, [false, true]);
  t.match(h.controller.view(), { lingering: [] });
});

t.test('expiresAt removes the rules on time', async (t) => {
  const expiresAt = new Date(Date.now() + 600).toISOString();
  const h = await setup(t);
  h.write(SLOW, `  expiresAt: "${expiresAt}"`);
  t.ok(await waitFor(() => h.installer.applied.length === 1));
  t.ok(await waitFor(() => h.installer.applied.at(-1)?.redirect.length === 0, 1500), 'removed at expiry');
  t.ok(Date.now() - Date.parse(expiresAt) < 300, 'within the expiry timer, not a renewal later');
});

t.test('a rule\'s own expiresAt removes its rules on time too', async (t) => {
  const expiresAt = new Date(Date.now() + 600).toISOString();
  const h = await setup(t);
  h.write(SLOW.replace('    - name: slow\n', `    - name: slow\n      expiresAt: "${expiresAt}"\n`));
  t.ok(await waitFor(() => h.installer.applied.length === 1));
  t.same(h.installer.applied[0]?.redirect, [{ direction: 'outbound', ports: [6379] }], 'installed while the rule lives');
  t.ok(await waitFor(() => h.installer.applied.at(-1)?.redirect.length === 0, 1500), 'removed at the rule\'s expiry');
  t.ok(Date.now() - Date.parse(expiresAt) < 300, 'within the expiry timer, not a renewal later');
});

t.test('a failed change is an error to see and is retried at the next renewal', async (t) => {
  const h = await setup(t);
  h.installer.failing = true;
  h.write(SLOW);
  t.ok(await waitFor(() => h.controller.view().lastError !== null));
  t.match(h.controller.view().lastError, { at: String, message: /boom/ });
  t.equal(await h.metric('interceptionChanges', 'error'), 1);
  h.installer.failing = false;
  t.ok(await waitFor(() => h.controller.view().installed, 1500), 'retried');
  t.equal(h.controller.view().lastError, null);
  t.equal(await h.metric('interceptionChanges', 'install'), 1);
});

t.test('stop removes the rules, close prunes; notes for a missing capture listener', async (t) => {
  const h = await setup(t, `${SLOW}
    - name: in
      match: {direction: inbound}
      faults: [{type: latency, latency: 10ms}]`, { inbound: false, outbound: true });
  t.match(h.controller.view().notes, [/no inbound capture listener/]);
  t.same(h.installer.applied.at(-1)?.redirect, [{ direction: 'outbound', ports: [6379] }], 'only outbound is redirected');
  await h.controller.stop();
  t.same(h.installer.applied.at(-1), { redirect: [], partition: [], dns: false, loss: [] });
  await h.controller.close();
  t.same(h.installer.prunes.at(-1), true);
  const count = h.installer.applied.length;
  h.write(SLOW);
  await sleep(400);
  t.equal(h.installer.applied.length, count, 'once stopped, changes install nothing');
});
