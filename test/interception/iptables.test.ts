import t from 'tap';
import { applyPlan, buildRules, cleanupPlan, DEFAULT_CONFIG, describeApply, describePlan } from '../../src/interception/iptables.js';
import { MAX_LIST_ITEMS, parseCidrs, parsePorts, parseUid } from '../../src/interception/values.js';
import { canUseNetns, ip6NatWorks, nsExec, oneNamespace } from '../helpers/netns.js';
import { BIN, runCli } from '../helpers/process.js';

t.test('the rules: capture, exemptions, includes', async (t) => {
  const text = (config = DEFAULT_CONFIG, family: 4 | 6 = 4) => buildRules(config, family).map((r) => r.join(' '));
  const rules = text();
  t.ok(rules.includes('-A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'), 'inbound goes to 15006');
  t.ok(rules.includes('-A FAULTLINE_REDIRECT -p tcp -j REDIRECT --to-ports 15001'), 'outbound goes to 15001');
  t.ok(rules.includes('-A FAULTLINE_OUTPUT -m owner --uid-owner 1337 -j RETURN'), "the proxy's own traffic is exempt");
  t.ok(rules.includes('-A FAULTLINE_OUTPUT -o lo -j RETURN'), 'loopback is exempt');
  t.ok(rules.includes('-A FAULTLINE_OUTPUT -d 127.0.0.0/8 -j RETURN'), 'all of 127/8');
  for (const port of [15000, 15020]) t.ok(rules.includes(`-A FAULTLINE_INBOUND -p tcp --dport ${port} -j RETURN`), `port ${port} is exempt`);

  const only = text({ ...DEFAULT_CONFIG, inboundPorts: [8080, 15020], includeOutboundCidrs: parseCidrs('10.0.0.0/8,fd00::/8', 'x') });
  t.ok(only.includes('-A FAULTLINE_INBOUND -p tcp --dport 8080 -j FAULTLINE_IN_REDIRECT'), 'only the listed inbound ports');
  t.notOk(only.some((r) => r.includes('--dport 15020 -j FAULTLINE_IN_REDIRECT')), 'never the sidecar ports, even if listed');
  t.ok(only.includes('-A FAULTLINE_OUTPUT -p tcp -d 10.0.0.0/8 -j FAULTLINE_REDIRECT'), 'only the included CIDRs');
  t.notOk(only.includes('-A FAULTLINE_OUTPUT -p tcp -j FAULTLINE_REDIRECT'), 'no catch-all with includes');
  t.ok(text({ ...DEFAULT_CONFIG, includeOutboundCidrs: parseCidrs('fd00::/8', 'x') }, 6).includes('-A FAULTLINE_OUTPUT -p tcp -d fd00::/8 -j FAULTLINE_REDIRECT'), 'IPv6 CIDRs go to ip6tables');
  t.notOk(text({ ...DEFAULT_CONFIG, includeOutboundCidrs: parseCidrs('10.0.0.0/8', 'x') }, 6).some((r) => r.includes('FAULTLINE_REDIRECT') && r.startsWith('-A FAULTLINE_OUTPUT')), 'IPv4-only includes capture no IPv6');
  t.same(text({ ...DEFAULT_CONFIG, inboundPorts: [] }).filter((r) => r.startsWith('-A FAULTLINE_INBOUND')), [], 'an empty inbound list captures nothing inbound');
});

t.test('the plans: what apply and cleanup run, printed as shell lines', async (t) => {
  const apply = describeApply(DEFAULT_CONFIG, [4, 6]);
  t.match(apply.join('\n'), /^ip6tables -t nat -C OUTPUT -p tcp -j FAULTLINE_OUTPUT 2>\/dev\/null \|\| ip6tables -t nat -A OUTPUT -p tcp -j FAULTLINE_OUTPUT$/m, 'a jump is added only when absent');
  t.match(apply.join('\n'), /^iptables -t nat -N FAULTLINE_INBOUND 2>\/dev\/null \|\| true\niptables -t nat -F FAULTLINE_INBOUND$/m, 'a chain is created when missing, then flushed');
  t.same(applyPlan(DEFAULT_CONFIG, 4).filter((s) => s.mode === 'must' && !s.unless).length, buildRules(DEFAULT_CONFIG, 4).length + 4, 'every rule and every flush must succeed');
  const cleanup = describePlan(cleanupPlan(4));
  t.equal(cleanup[0], 'while iptables -t nat -D PREROUTING -p tcp -j FAULTLINE_INBOUND 2>/dev/null; do :; done');
  t.ok(cleanup.includes('iptables -t nat -X FAULTLINE_REDIRECT 2>/dev/null || true'), 'our nat chains are deleted');
  t.ok(cleanup.includes('iptables -t filter -X FAULTLINE_PART_OUT 2>/dev/null || true'), 'and the filter chains of on-demand partitions too');
  t.equal(cleanup.at(-1), 'iptables -t filter -X FAULTLINE_LOSS_OUT 2>/dev/null || true', 'and of packet loss');
  t.ok(cleanup.includes('iptables -t nat -X FAULTLINE_DNS 2>/dev/null || true'), 'and the DNS chain');
  t.ok(cleanup.includes('while iptables -t nat -D OUTPUT -p udp --dport 53 -j FAULTLINE_DNS 2>/dev/null; do :; done'), 'with its jumps');
});

t.test('values are validated before they reach iptables', async (t) => {
  t.same(parsePorts('80, 443,8080,80', 'p'), [80, 443, 8080], 'duplicates dropped');
  t.same(parseCidrs('10.0.0.0/8,192.168.1.1,::1,FD00::/8,10.0.0.0/8', 'c').map((c) => c.cidr), ['10.0.0.0/8', '192.168.1.1/32', '::1/128', 'fd00::/8'], 'normalized');
  t.equal(parseUid('1337', 'u'), 1337);
  for (const hostile of ['80; rm -rf /', '99999', '0', '80 -j ACCEPT', '$(reboot)', '08', '-1', '80\n443']) t.throws(() => parsePorts(hostile, '--exclude-outbound-ports'), { code: 'FL_ERR_USAGE' }, JSON.stringify(hostile));
  for (const hostile of ['0/0 -j ACCEPT', '10.0.0.0/33', 'example.com', '10.0.0.0/8; reboot', '010.0.0.1', '10.0.0.0/08', 'fe80::1%eth0', '::/129', '1.2.3']) {
    t.throws(() => parseCidrs(hostile, '--exclude-outbound-cidrs'), { code: 'FL_ERR_USAGE' }, JSON.stringify(hostile));
  }
  t.throws(() => parseCidrs('10.0.0.1/8', 'c'), { message: /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/ });
  t.throws(() => parseCidrs('fd00::1/8', 'c'), { message: /did you mean fd00::\/8\?/ });
  t.throws(() => parsePorts(Array.from({ length: MAX_LIST_ITEMS + 1 }, (_, i) => i + 1).join(','), 'p'), { message: /at most 128/ }, 'a list cannot become thousands of rules');
  t.throws(() => parseUid('root', '--proxy-uid'));
});

t.test('faultline iptables --dry-run prints the exact commands; bad values exit 2 naming the flag', async (t) => {
  const dry = await runCli(['iptables', '--dry-run', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12']);
  t.equal(dry.code, 0);
  t.match(dry.stdout, /^iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 5432 -j RETURN$/m);
  t.match(dry.stdout, /^iptables -t nat -A FAULTLINE_OUTPUT -d 10\.96\.0\.0\/12 -j RETURN$/m);
  t.match(dry.stdout, /^# IPv6: the same with ip6tables/m, 'says what it does about IPv6');
  t.notMatch(dry.stdout, /^ip6tables/m);
  const six = await runCli(['iptables', '--dry-run', '--ipv6', 'on']);
  t.match(six.stdout, /^ip6tables -t nat -A FAULTLINE_OUTPUT -d ::1\/128 -j RETURN$/m);
  const cleanup = await runCli(['iptables', '--dry-run', '--cleanup']);
  t.match(cleanup.stdout, /^iptables -t nat -X FAULTLINE_OUTPUT 2>\/dev\/null \|\| true$/m, '--cleanup --dry-run prints the commands too');
  for (const [flag, value, message] of [
    ['--exclude-outbound-cidrs', '0/0 -j ACCEPT', /--exclude-outbound-cidrs: "0\/0 -j ACCEPT" is not an IP or CIDR/],
    ['--exclude-outbound-ports', '80; rm -rf /', /--exclude-outbound-ports: "80; rm -rf \/" is not a port/],
    ['--inbound-ports', '99999', /--inbound-ports: "99999" is not a port/],
    ['--ipv6', 'maybe', /--ipv6: "maybe" must be auto, on or off/],
  ] as const) {
    const bad = await runCli(['iptables', '--dry-run', flag, value]);
    t.equal(bad.code, 2, `${flag} ${value}: exit 2 (usage)`);
    t.match(bad.stderr, message);
    t.equal(bad.stdout, '', 'and nothing printed to run');
  }
});

/** The nat table as iptables-save prints it, without the comment and counter noise. */
function natRules(ns: string, bin: 'iptables' | 'ip6tables' = 'iptables'): string[] {
  return nsExec(ns, [`${bin}-save`, '-t', 'nat'])
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** The `-A` lines we expect iptables-save to show (it spells `-p tcp --dport` as `-p tcp -m tcp --dport`). */
function expectedRules(config = DEFAULT_CONFIG, family: 4 | 6 = 4): string[] {
  return [...buildRules(config, family).map((r) => r.join(' ')), '-A PREROUTING -p tcp -j FAULTLINE_INBOUND', '-A OUTPUT -p tcp -j FAULTLINE_OUTPUT']
    .map((r) => r.replace('-p tcp --dport', '-p tcp -m tcp --dport'))
    .sort();
}

// The init container's conditions: root with NET_ADMIN and NET_RAW only, a read-only root filesystem.
const asInitContainer = (args: string[]) => [
  'unshare', '-m', 'sh', '-c', 'mount --make-rprivate / && mount -o remount,bind,ro / && exec "$@"', 'sh',
  'setpriv', '--bounding-set', '-all,+net_admin,+net_raw', '--', process.execPath, BIN, 'iptables', ...args,
];

t.test('faultline iptables in a network namespace: exact rules, idempotent, --cleanup', { skip: canUseNetns() }, async (t) => {
  const ns = oneNamespace(t, 'fl-ipt-');
  const flags = ['--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12,fd00:96::/64', '--exclude-inbound-ports', '22'];
  const config = { ...DEFAULT_CONFIG, excludeOutboundPorts: [5432], excludeOutboundCidrs: parseCidrs('10.96.0.0/12,fd00:96::/64', 'x'), excludeInboundPorts: [22] };
  const ipv6 = ip6NatWorks(ns);
  const ipv6Flag = ['--ipv6', ipv6 ? 'on' : 'off'];

  t.match(nsExec(ns, asInitContainer([...flags, ...ipv6Flag])), /interception rules applied/, 'applies with NET_ADMIN and NET_RAW only, on a read-only root');
  const first = natRules(ns);
  t.same(first.filter((l) => l.startsWith('-A')).sort(), expectedRules(config), 'iptables holds exactly the rules of the plan');
  t.same(first.filter((l) => l.startsWith(':FAULTLINE')), [':FAULTLINE_INBOUND -', ':FAULTLINE_IN_REDIRECT -', ':FAULTLINE_OUTPUT -', ':FAULTLINE_REDIRECT -'], 'in our four chains');
  if (ipv6) t.same(natRules(ns, 'ip6tables').filter((l) => l.startsWith('-A')).sort(), expectedRules(config, 6), 'and ip6tables the IPv6 ones');

  nsExec(ns, [process.execPath, BIN, 'iptables', ...flags, ...ipv6Flag]);
  t.same(natRules(ns), first, 'applying twice leaves the same rules');

  nsExec(ns, [process.execPath, BIN, 'iptables', '--exclude-outbound-ports', '3306', ...ipv6Flag]);
  const other = natRules(ns);
  t.ok(other.includes('-A FAULTLINE_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN') && !other.some((l) => l.includes('5432')), 'a new configuration replaces the old one');
  t.equal(other.filter((l) => l === '-A OUTPUT -p tcp -j FAULTLINE_OUTPUT').length, 1, 'still one jump');

  nsExec(ns, [process.execPath, BIN, 'iptables', '--cleanup', ...ipv6Flag]);
  t.notOk(natRules(ns).some((l) => l.includes('FAULTLINE')), '--cleanup removes every rule and chain');
  if (ipv6) t.notOk(natRules(ns, 'ip6tables').some((l) => l.includes('FAULTLINE')), 'IPv6 too');
  t.match(nsExec(ns, [process.execPath, BIN, 'iptables', '--cleanup', ...ipv6Flag]), /removed/, 'and cleaning up again is harmless');

  // The dry run, run by a shell, does exactly what the command does.
  const script = nsExec(ns, [process.execPath, BIN, 'iptables', '--dry-run', ...flags, '--ipv6', 'off']);
  nsExec(ns, ['sh', '-e'], { input: script });
  nsExec(ns, ['sh', '-e'], { input: script });
  t.same(natRules(ns).filter((l) => l.includes('FAULTLINE')), first.filter((l) => l.includes('FAULTLINE')), '--dry-run printed the exact commands (run twice, too)');
  nsExec(ns, ['iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-j', 'FAULTLINE_OUTPUT']);
  nsExec(ns, ['sh', '-e'], { input: nsExec(ns, [process.execPath, BIN, 'iptables', '--dry-run', '--cleanup', '--ipv6', 'off']) });
  t.notOk(natRules(ns).some((l) => l.includes('FAULTLINE')), 'the printed cleanup removes a jump added twice by hand too');
});

t.test('without NET_ADMIN, faultline iptables fails with the command and its error', { skip: canUseNetns() }, async (t) => {
  const ns = oneNamespace(t, 'fl-ipt-');
  let failure: { status?: number; stderr?: string } = {};
  try {
    nsExec(ns, ['setpriv', '--bounding-set', '-all', '--', process.execPath, BIN, 'iptables', '--ipv6', 'off']);
  } catch (err) {
    failure = err as typeof failure;
  }
  t.equal(failure.status, 1, 'exit 1');
  t.match(failure.stderr, /^faultline: iptables -t nat -F FAULTLINE_INBOUND failed: .*(Permission denied|not permitted)/m, 'a one-line message, no stack');
});
