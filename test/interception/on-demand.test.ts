import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { canUseNetns, echoProbe, heldConnection } from '../helpers/netns.js';
import { delayed, fast, hasNft, podFixture, status, until } from '../helpers/on-demand.js';
import { BIN, runCli } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

const skip = canUseNetns();

t.test('on-demand interception: no rule without a fault, exactly the rules a fault needs, removed when it stops', { skip }, async (t) => {
  const f = podFixture(t);
  const rules = `    - name: inbound-slow
      match: {direction: inbound, ports: [8080]}
      faults: [{type: latency, latency: 100ms}]
    - name: outbound-slow
      match: {direction: outbound, destinations: ["10.202.0.2/32"], ports: [9090]}
      faults: [{type: latency, latency: 150ms}]`;
  f.write(rules, '  enabled: false');
  const { sidecar, helper } = await f.start(t);

  t.match(status(sidecar.pid as number), /^Uid:\s+1337\s+1337\s+1337\s+1337$/m, 'the data plane runs as 1337 (real, effective, saved, fs)');
  t.match(status(sidecar.pid as number), /^CapEff:\s+0+$/m, 'with no capability');
  t.match(status(helper), /^Uid:\s+0\s+0\s+0\s+0$/m, 'the helper alone stays root');
  const sockets = f.inPod(['ss', '-tlnpe']);
  for (const port of [15001, 15006, 15020]) t.match(sockets, new RegExp(`:${port} .* uid:1337 `), `the socket on ${port} belongs to 1337`);

  t.notMatch(f.nat(), /FAULTLINE/, 'no fault active: no nat rule');
  t.notMatch(f.filter(), /FAULTLINE/, 'and no filter rule');
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8080)), 'the client reaches the app directly');
  t.ok(fast(echoProbe(f.pod, '10.202.0.2', 9090)), 'the app reaches the remote directly');
  t.equal(f.admin('GET', '/connections').json?.total, 0, "the sidecar's connection table stays empty");
  t.match(f.admin('GET', '/policy').json?.interception, { mode: 'on-demand', installed: false, rules: [], lastError: null });

  const written = Date.now();
  f.write(rules);
  t.ok(await until(() => /FAULTLINE_IN_REDIRECT/.test(f.nat()) && /FAULTLINE_REDIRECT/.test(f.nat())), 'enabling the policy installs rules');
  const installed = f.admin('GET', '/policy').json?.interception;
  t.ok(Date.parse(installed.changedAt) - written < 2000, `within 2 s of the file change (${Date.parse(installed.changedAt) - written} ms)`);
  const nat = f.nat();
  t.match(nat, /^-A FAULTLINE_INBOUND -p tcp -m tcp --dport 8080 -j FAULTLINE_IN_REDIRECT$/m, 'inbound: port 8080 only');
  t.match(nat, /^-A FAULTLINE_OUTPUT -d 10\.202\.0\.2\/32 -p tcp -m tcp --dport 9090 -j FAULTLINE_REDIRECT$/m, 'outbound: that destination and port only');
  t.notMatch(nat, /-A FAULTLINE_(INBOUND|OUTPUT) -p tcp -j FAULTLINE_(IN_)?REDIRECT/, 'no catch-all redirect');
  t.match(nat, /^-A FAULTLINE_OUTPUT -m owner --uid-owner 1337 -j RETURN$/m, "the proxy's own traffic stays exempt");
  t.match(nat, /^-A FAULTLINE_INBOUND -m time --datestart \S+ --datestop \S+ -j RETURN$/m, 'each entry chain begins with its lease');
  t.equal(installed.rules.length, f.metric('faultline_interception_rules'), 'GET /policy lists the rules the gauge counts');
  t.equal(f.metric('faultline_interception_changes_total{action="install"}'), 1);

  const inbound = echoProbe(f.client, '10.201.0.2', 8080);
  t.ok(delayed(inbound, 100), `the next inbound connection is delayed 100 ms (${JSON.stringify(inbound)})`);
  const outbound = echoProbe(f.pod, '10.202.0.2', 9090);
  t.ok(delayed(outbound, 150), `the next outbound connection is delayed 150 ms (${JSON.stringify(outbound)})`);
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8081)), 'a port no rule matches is not redirected');

  const held = await heldConnection(t, f.client, '10.201.0.2', 8080);
  const before = await held.ping();
  t.ok('ms' in before && before.ms >= 95, `a connection opened now goes through the sidecar (${JSON.stringify(before)})`);
  f.write(undefined);
  t.ok(await until(() => !/FAULTLINE_(INBOUND|OUTPUT)/.test(f.nat())), 'removing the rules from the policy removes every redirect');
  t.notMatch(f.nat(), /-j FAULTLINE/, 'no rule jumps to a chain of ours');
  const after = await held.ping();
  t.ok('ms' in after && after.ms < 50, `the connection opened before keeps working, through the sidecar, without the fault (${JSON.stringify(after)})`);
  t.equal(f.admin('GET', '/connections?direction=inbound').json?.total, 1, 'it is still in the connection table');
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8080)), 'a new connection goes direct');
  t.equal(f.admin('GET', '/connections?direction=inbound').json?.total, 1, 'and never reaches the sidecar');
  t.equal(f.metric('faultline_interception_changes_total{action="remove"}'), 1);
  t.equal(f.metric('faultline_interception_rules'), 0);
  t.match(f.admin('GET', '/policy').json?.interception, { installed: false, rules: [], lingering: [/-A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT/] }, 'its REDIRECT chain lingers, unreachable: it keeps conntrack, and so the live connection\'s translation, on');
  held.close();
  t.ok(await until(() => !/FAULTLINE/.test(f.nat()), 6000), 'once that connection closed, the lingering chain goes too');

  // The admin API: runtime rules and the kill switch.
  const created = f.admin('POST', '/rules', { name: 'api-slow', match: { direction: 'inbound', ports: [8081] }, faults: [{ type: 'latency', latency: '100ms' }] });
  t.equal(created.status, 201);
  t.match(f.nat(), /--dport 8081 -j FAULTLINE_IN_REDIRECT/, 'POST /rules answers once its redirect is installed');
  t.ok(delayed(echoProbe(f.client, '10.201.0.2', 8081), 100), 'and the runtime rule applies');
  t.equal(f.admin('POST', '/killswitch').status, 200);
  t.notMatch(f.nat(), /-j FAULTLINE/, 'the kill switch removes every rule');
  t.equal(f.admin('DELETE', '/killswitch').status, 200);
  t.match(f.nat(), /--dport 8081/, 'and clearing it puts them back');
  t.equal(f.admin('DELETE', '/rules/api-slow').status, 204);
  t.notMatch(f.nat(), /-j FAULTLINE/, 'DELETE /rules/NAME removes its rules');
  if (hasNft) t.ok(await until(() => !/hook/.test(f.inPod(['nft', 'list', 'ruleset']))), 'and with no redirected connection left, no netfilter hook is left either: the pod is as it was');

  // Policy-level expiry ends the rules on time.
  const expiresAt = new Date(Date.now() + 2500).toISOString();
  f.write(rules, `  expiresAt: "${expiresAt}"`);
  t.ok(await until(() => /FAULTLINE/.test(f.nat())), 'a policy that expires installs its rules');
  t.ok(await until(() => !/-j FAULTLINE/.test(f.nat()), 5000), 'and they are removed when it expires');
  t.ok(Date.now() - Date.parse(expiresAt) < 1500, 'within a second or so of expiresAt');
});

t.test('kernel partitions cut live direct connections: reject resets them, blackhole silences them', { skip }, async (t) => {
  const f = podFixture(t);
  f.write(undefined);
  await f.start(t);
  const partition = (mode: string) => ({ name: `cut-${mode}`, match: { direction: 'inbound', ports: [8080], sources: ['10.201.0.1'] }, faults: [{ type: 'partition', mode }] });

  const live = await heldConnection(t, f.client, '10.201.0.2', 8080);
  t.ok('ms' in (await live.ping()), 'a direct connection works');
  t.equal(f.admin('POST', '/rules', partition('reject')).status, 201);
  t.match(f.filter(), /^-A FAULTLINE_PART_IN -s 10\.201\.0\.1\/32 -p tcp -m tcp --dport 8080 ! --tcp-flags RST RST -j REJECT --reject-with tcp-reset$/m, 'REJECT in the filter table, exactly that peer and port');
  t.notMatch(f.nat(), /FAULTLINE/, 'a kernel partition needs no redirect');
  t.same(await live.ping(), { error: 'ECONNRESET' }, 'the live direct connection is reset');
  t.same(echoProbe(f.client, '10.201.0.2', 8080), { error: 'ECONNREFUSED' }, 'new connections are refused');
  t.ok(fast(echoProbe(f.client, '10.201.0.2', 8081)), 'other ports are not cut');
  t.ok(fast(echoProbe(f.pod, '10.202.0.2', 9090)), 'nor outbound traffic');
  t.equal(f.admin('GET', '/connections').json?.total, 0, 'all of it without the sidecar');

  t.equal(f.admin('DELETE', '/rules/cut-reject').status, 204);
  t.notMatch(f.filter(), /FAULTLINE/, 'removing the rule removes the filter rules');
  const quiet = await heldConnection(t, f.client, '10.201.0.2', 8080);
  t.ok('ms' in (await quiet.ping()), 'connections work again');
  t.equal(f.admin('POST', '/rules', partition('blackhole')).status, 201);
  t.match(f.filter(), /-s 10\.201\.0\.1\/32 -p tcp -m tcp --dport 8080 -j DROP/, 'blackhole: DROP');
  t.same(await quiet.ping(1000), { timeout: true }, 'no data crosses the live connection');
  t.equal(f.admin('DELETE', '/rules/cut-blackhole').status, 204);
  const resumed = await quiet.ping(8000);
  t.ok('ms' in resumed, `once the partition ends, the connection carries data again (${JSON.stringify(resumed)})`);
});

t.test('an on-demand sidecar that cannot start exits 1, and takes its helper with it', { skip }, async (t) => {
  const f = podFixture(t);
  f.write('    - {name: bad, faults: [{type: latency, latency: forever}]}');
  let failure: { status?: number; stderr?: string } = {};
  try {
    execFileSync('ip', ['netns', 'exec', f.pod, process.execPath, BIN, 'sidecar', '--policy', f.policy, '--interception', 'on-demand', '--metrics', '127.0.0.1:0'], { stdio: 'pipe', timeout: 30_000, env: { ...process.env, HOME: '/tmp' } });
  } catch (err) {
    failure = err as typeof failure;
  }
  t.equal(failure.status, 1, 'exit 1, not a hang on the helper\'s channel');
  t.match(String(failure.stderr), /latency/);
  t.notMatch(f.nat(), /FAULTLINE/);
});

t.test('faultline sidecar refuses on-demand settings it cannot honour, before it starts anything', async (t) => {
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ listeners: [] }));
  const cases: [string[], RegExp][] = [
    [['--inbound-ports', '80', '--proxy-uid', '1000'], /--inbound-ports, --proxy-uid: only with --interception on-demand/],
    [['--interception-lease', '5s'], /--interception-lease: only with --interception on-demand/],
    [['--interception', 'sometimes'], /--interception: "sometimes" must be always or on-demand/],
    [['--interception', 'on-demand', '--interception-lease', '1s'], /--interception-lease: "1s" must be a duration from 3s to 1h/],
    [['--interception', 'on-demand', '--exclude-outbound-cidrs', '0/0 -j ACCEPT'], /--exclude-outbound-cidrs: "0\/0 -j ACCEPT" is not an IP or CIDR/],
    [['--interception', 'on-demand', '--ipv6', 'maybe'], /--ipv6: "maybe" must be auto, on or off/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runCli(['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', ...args]);
    t.equal(code, 2, `${args.join(' ')}: a usage error`);
    t.match(stderr, message);
  }
  // Not root: the helper could not keep root, so on-demand refuses to start at all.
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups'] : [];
  let refused: { status?: number; stderr?: string } = {};
  try {
    execFileSync(asUser[0] ?? process.execPath, [...asUser.slice(1), ...(asUser.length ? [process.execPath] : []), BIN, 'sidecar', '--policy', policy, '--interception', 'on-demand'], { stdio: 'pipe', env: { ...process.env, HOME: '/tmp' } });
  } catch (err) {
    refused = err as typeof refused;
  }
  t.equal(refused.status, 1, 'not root: a failure to start, exit 1 (the flags were right)');
  t.match(String(refused.stderr), /--interception on-demand starts as root \(with NET_ADMIN and NET_RAW\)/);
});
