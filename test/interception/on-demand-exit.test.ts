import t from 'tap';
import { sleep } from '../helpers/net.js';
import { canUseNetns, echoProbe } from '../helpers/netns.js';
import { fast, hasNft, podFixture, until } from '../helpers/on-demand.js';

// README, "On-demand interception", "When the sidecar stops": each case of the guarantee.
const skip = canUseNetns();

t.test('the exit guarantee: SIGTERM and SIGKILL leave no redirect behind, and a dead pair goes inert with its lease', { skip }, async (t) => {
  const f = podFixture(t);
  f.write(`    - name: slow
      match: {direction: inbound, ports: [8080]}
      faults: [{type: latency, latency: 100ms}]`);

  const first = await f.start(t);
  t.match(f.nat(), /FAULTLINE_IN_REDIRECT/, 'rules installed at start for an active fault');
  const exited = new Promise<number | null>((resolve) => first.sidecar.once('exit', resolve));
  first.sidecar.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: the sidecar exits 0');
  t.notMatch(f.nat(), /FAULTLINE/, 'SIGTERM: no redirect left behind');
  if (hasNft) t.ok(await until(() => !/hook/.test(f.inPod(['nft', 'list', 'ruleset']))), 'and once the helper is gone, not even an empty built-in chain');
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8080)), 'the app is reached directly');

  const second = await f.start(t);
  t.match(f.nat(), /FAULTLINE_IN_REDIRECT/);
  second.sidecar.kill('SIGKILL');
  t.ok(await until(() => !/FAULTLINE/.test(f.nat()), 2000), 'SIGKILL of the sidecar: its helper removes the rules at once');
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8080)));

  const third = await f.start(t, '3s');
  t.match(f.nat(), /FAULTLINE_IN_REDIRECT/);
  process.kill(third.helper, 'SIGKILL');
  third.sidecar.kill('SIGKILL');
  const killedAt = Date.now();
  await sleep(200);
  t.match(f.nat(), /FAULTLINE_IN_REDIRECT/, 'SIGKILL of both: the rules stay for now');
  t.same(echoProbe(f.client, '10.201.0.2', 8080), { error: 'ECONNREFUSED' }, 'and new connections are refused (the window the lease bounds)');
  t.ok(await until(() => fast(echoProbe(f.client, '10.201.0.2', 8080)), 6000), 'until the lease runs out: then connections go direct');
  const window = Date.now() - killedAt;
  t.ok(window <= 3000 + 1500, `within the 3 s lease (+ a second of rounding and probing): ${window} ms`);
  t.match(f.nat(), /FAULTLINE/, 'the inert rules are still there');

  f.write(undefined);
  await f.start(t);
  t.notMatch(f.nat(), /FAULTLINE/, 'the next sidecar removes the stale rules before anything else');
});

t.test('the helper killed alone: the sidecar stops with exit 1 (to be restarted), its rules go inert with their lease', { skip }, async (t) => {
  const f = podFixture(t);
  f.write(`    - name: slow
      match: {direction: inbound, ports: [8080]}
      faults: [{type: latency, latency: 100ms}]`);
  const { sidecar, helper } = await f.start(t, '3s');
  const exited = new Promise<number | null>((resolve) => sidecar.once('exit', resolve));
  process.kill(helper, 'SIGKILL');
  t.equal(await exited, 1, 'exit 1: the container restarts, with a new helper');
  t.match(sidecar.output(), /the interception helper exited: stopping/);
  t.ok(await until(() => fast(echoProbe(f.client, '10.201.0.2', 8080)), 6000), 'the rules nobody renews go inert: connections go direct');
});
