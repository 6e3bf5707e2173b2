import t from 'tap';
import { buildRules, DEFAULT_CONFIG, describeApply } from '../../src/interception/iptables.js';
import { parseCidrs, parsePorts, parseUid } from '../../src/interception/values.js';
import { runCli } from '../helpers/process.js';

t.test('the rules: capture, exemptions, includes', async (t) => {
  const text = (config = DEFAULT_CONFIG, family: 4 | 6 = 4) => buildRules(config, family).map((r) => r.join(' '));
  const rules = text();
  t.ok(rules.includes('-A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'), 'inbound goes to 15006');
  t.ok(rules.includes('-A FAULTLINE_REDIRECT -p tcp -j REDIRECT --to-ports 15001'), 'outbound goes to 15001');
  t.ok(rules.includes('-A FAULTLINE_OUTPUT -m owner --uid-owner 1337 -j RETURN'), "the proxy's own traffic is exempt");
  t.ok(rules.includes('-A FAULTLINE_OUTPUT -o lo -j RETURN'), 'loopback is exempt');
  for (const port of [15000, 15020]) t.ok(rules.includes(`-A FAULTLINE_INBOUND -p tcp --dport ${port} -j RETURN`), `port ${port} is exempt`);

  const only = text({ ...DEFAULT_CONFIG, inboundPorts: [8080, 15020], includeOutboundCidrs: parseCidrs('10.0.0.0/8,fd00::/8', 'x') });
  t.ok(only.includes('-A FAULTLINE_INBOUND -p tcp --dport 8080 -j FAULTLINE_IN_REDIRECT'), 'only the listed inbound ports');
  t.notOk(only.some((r) => r.includes('--dport 15020 -j FAULTLINE_IN_REDIRECT')), 'never the sidecar ports, even if listed');
  t.ok(only.includes('-A FAULTLINE_OUTPUT -p tcp -d 10.0.0.0/8 -j FAULTLINE_REDIRECT'), 'only the included CIDRs');
  t.notOk(only.includes('-A FAULTLINE_OUTPUT -p tcp -j FAULTLINE_REDIRECT'), 'no catch-all with includes');
  t.ok(text({ ...DEFAULT_CONFIG, includeOutboundCidrs: parseCidrs('fd00::/8', 'x') }, 6).includes('-A FAULTLINE_OUTPUT -p tcp -d fd00::/8 -j FAULTLINE_REDIRECT'), 'IPv6 CIDRs go to ip6tables');
  t.match(describeApply(DEFAULT_CONFIG, [4, 6]).join('\n'), /^ip6tables -t nat -A OUTPUT -p tcp -j FAULTLINE_OUTPUT$/m);
});

t.test('values are validated before they reach iptables', async (t) => {
  t.same(parsePorts('80, 443,8080', 'p'), [80, 443, 8080]);
  t.same(parseCidrs('10.0.0.0/8,192.168.1.1,::1', 'c').map((c) => c.cidr), ['10.0.0.0/8', '192.168.1.1/32', '::1/128']);
  t.equal(parseUid('1337', 'u'), 1337);
  for (const hostile of ['80; rm -rf /', '99999', '0', '80 -j ACCEPT', '$(reboot)']) t.throws(() => parsePorts(hostile, '--exclude-outbound-ports'), { code: 'FL_ERR_USAGE' }, hostile);
  for (const hostile of ['0/0 -j ACCEPT', '10.0.0.0/33', 'example.com', '10.0.0.0/8; reboot']) t.throws(() => parseCidrs(hostile, '--exclude-outbound-cidrs'), { code: 'FL_ERR_USAGE' }, hostile);
  t.throws(() => parseUid('root', '--proxy-uid'));
});

t.test('faultline iptables --dry-run prints the exact commands; bad values exit 1 naming the flag', async (t) => {
  const dry = await runCli(['iptables', '--dry-run', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12']);
  t.equal(dry.code, 0);
  t.match(dry.stdout, /^iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 5432 -j RETURN$/m);
  t.match(dry.stdout, /^iptables -t nat -A FAULTLINE_OUTPUT -d 10\.96\.0\.0\/12 -j RETURN$/m);
  const bad = await runCli(['iptables', '--dry-run', '--exclude-outbound-cidrs', '0/0 -j ACCEPT']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /--exclude-outbound-cidrs: "0\/0 -j ACCEPT" is not an IP or CIDR/);
});
