import t from 'tap';
import { interceptionDemand, type Demand } from '../../src/interception/demand.js';
import { handle } from '../../src/interception/helper.js';
import { DEFAULT_CONFIG } from '../../src/interception/iptables.js';
import { describeRendered, renderDemand, restoreInput } from '../../src/interception/on-demand-rules.js';
import { RuleKeeper } from '../../src/interception/rule-keeper.js';
import { parseCidrs } from '../../src/interception/values.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

const LEASE = Date.parse('2026-12-01T09:00:00.200Z');
const lines = (demand: Demand, family: 4 | 6 = 4, config = DEFAULT_CONFIG) => describeRendered(renderDemand(config, demand, family, LEASE));
const policy = (rules: string) => compilePolicy(policyText({ rules }), 'p.yaml', { kernelFaults: true });
const capture = { inbound: true, outbound: true, dns: true };

t.test('the demand: DNS rules ask for the DNS redirect, packet_loss for kernel drops, neither for a TCP redirect', async (t) => {
  const report = interceptionDemand(
    policy(`    - name: dns
      match: {dns: {names: ["*.svc.cluster.local"]}}
      faults: [{type: dns_error}]
    - name: lossy
      match: {direction: outbound, destinations: ["10.202.0.2/32"], ports: [9091]}
      faults: [{type: packet_loss, probability: 0.2, stream: upstream}]
    - name: both
      match: {direction: inbound, ports: [8080]}
      faults: [{type: packet_loss, probability: 0.05}, {type: latency, latency: 10ms}]`),
    true,
    capture,
  );
  t.same(report.redirect, [{ direction: 'inbound', ports: [8080] }], 'only the rule with a sidecar fault is redirected');
  t.equal(report.dns, true);
  t.same(report.loss, [
    { direction: 'outbound', family: 4, destination: '10.202.0.2/32', ports: [9091], probability: 0.2, streams: ['upstream'] },
    { direction: 'inbound', ports: [8080], probability: 0.05, streams: ['upstream', 'downstream'] },
  ]);
  const noProxy = interceptionDemand(policy('    - {name: d, match: {dns: {}}, faults: [{type: dns_timeout}]}'), true, { inbound: true, outbound: true });
  t.equal(noProxy.dns, false);
  t.match(noProxy.notes, ['no DNS proxy: DNS rules apply only to protocol: dns listeners']);
  t.same(interceptionDemand(policy('    - {name: d, match: {dns: {}}, faults: [{type: dns_timeout}]}'), false, capture).dns, false, 'faults off: nothing');
  const many = Array.from({ length: 130 }, (_, i) => `"10.9.${i}.1"`).join(', ');
  const wide = interceptionDemand(policy(`    - {name: m, match: {destinations: [${many}]}, faults: [{type: packet_loss, probability: 0.1}, {type: latency, latency: 1ms}]}`), true, capture);
  t.equal(wide.loss?.length, 128, 'loss is never widened: at most 128 selections, each exact');
  t.ok(wide.loss?.every((s) => s.destination?.startsWith('10.9.')), 'each for its own destination');
  t.match(wide.notes, [/widened/, /packet_loss: more than 128 iptables selections, only the first 128 are installed/]);
  t.same(wide.redirect, [{ direction: 'inbound' }, { direction: 'outbound' }], 'while the redirect is widened (the sidecar matches exactly)');
});

t.test('rendered: the DNS chain (IPv4 only) and the loss chains, matched on the original tuple', async (t) => {
  const config = { ...DEFAULT_CONFIG, excludeOutboundPorts: [5432], excludeOutboundCidrs: parseCidrs('10.96.0.0/12', 'x') };
  const demand: Demand = {
    redirect: [{ direction: 'outbound', ports: [9090] }],
    partition: [],
    dns: true,
    loss: [{ direction: 'outbound', family: 4, destination: '10.202.0.2/32', ports: [9091], probability: 0.2, streams: ['upstream'] }],
  };
  const rules = lines(demand, 4, config);
  for (const expected of [
    'iptables -t nat -I OUTPUT 1 -p udp --dport 53 -j FAULTLINE_DNS',
    'iptables -t nat -I OUTPUT 1 -p tcp --dport 53 -j FAULTLINE_DNS',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 53 -j RETURN',
    'iptables -t nat -A FAULTLINE_DNS -m time --datestart 2026-12-01T09:00:01 -j RETURN',
    'iptables -t nat -A FAULTLINE_DNS -m owner --uid-owner 1337 -j RETURN',
    'iptables -t nat -A FAULTLINE_DNS -p udp -j REDIRECT --to-ports 15053',
    'iptables -t filter -I INPUT 1 -j FAULTLINE_LOSS_IN',
    'iptables -t filter -I OUTPUT 1 -j FAULTLINE_LOSS_OUT',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -o lo -j RETURN',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -p udp -m conntrack --ctorigdstport 5432 -j RETURN',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -p tcp -m conntrack --ctorigdstport 15020 -j RETURN',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -d 10.96.0.0/12 -j RETURN',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -p tcp ! --syn -m conntrack --ctdir ORIGINAL --ctorigdst 10.202.0.2/32 --ctorigdstport 9091 -m statistic --mode random --probability 0.2 -j DROP',
    'iptables -t filter -A FAULTLINE_LOSS_OUT -p udp -m conntrack --ctdir ORIGINAL --ctorigdst 10.202.0.2/32 --ctorigdstport 9091 -m statistic --mode random --probability 0.2 -j DROP',
  ]) {
    t.ok(rules.includes(expected), expected);
  }
  t.notOk(rules.some((r) => /FAULTLINE_LOSS_IN .*DROP/.test(r)), 'stream upstream of an outbound rule: nothing dropped on the way in');
  t.notOk(lines(demand, 6).some((r) => r.includes('FAULTLINE_DNS')), 'IPv6 DNS is never redirected (the proxy listens on 127.0.0.1)');
  const input = restoreInput(renderDemand(DEFAULT_CONFIG, demand, 4, LEASE), undefined);
  t.match(input, /^-I OUTPUT 1 -p udp --dport 53 -j FAULTLINE_DNS$/m, 'iptables-restore input with the jumps\' own matches');
  t.match(restoreInput(undefined, renderDemand(DEFAULT_CONFIG, demand, 4, LEASE)), /^-D INPUT -j FAULTLINE_LOSS_IN$/m, 'and their removal');
  const inbound = lines({ redirect: [], partition: [], loss: [{ direction: 'inbound', sourcePort: 4000, source: '10.201.0.1/32', family: 4, probability: 0.5, streams: ['downstream'] }] });
  t.ok(inbound.includes('iptables -t filter -A FAULTLINE_LOSS_OUT -p tcp ! --syn -m conntrack --ctdir REPLY --ctorigsrc 10.201.0.1/32 --ctorigsrcport 4000 -m statistic --mode random --probability 0.5 -j DROP'), 'an inbound rule\'s downstream: the pod\'s replies, on the way out');
});

t.test('the helper takes DNS and loss demands, validated strictly', async (t) => {
  const applied: Demand[] = [];
  const keeper = { apply: (d: Demand) => (applied.push(d), { rules: [], lingering: [], leaseEnd: 0 }), prune: () => ({ rules: [], lingering: [], leaseEnd: 0 }) } as unknown as RuleKeeper;
  const ok = { redirect: [], partition: [], dns: true, loss: [{ direction: 'outbound', ports: [53], probability: 0.3, streams: ['upstream'] }] };
  t.match(handle(keeper, { type: 'apply', id: 1, demand: ok }), { ok: true });
  t.same(applied[0], ok);
  const hostile = [
    { ...ok, loss: [{ direction: 'outbound', probability: '0.3 -j ACCEPT', streams: ['upstream'] }] },
    { ...ok, loss: [{ direction: 'outbound', probability: 0, streams: ['upstream'] }] },
    { ...ok, loss: [{ direction: 'outbound', probability: 1.5, streams: ['upstream'] }] },
    { ...ok, loss: [{ direction: 'outbound', probability: 0.3, streams: [] }] },
    { ...ok, loss: [{ direction: 'outbound', probability: 0.3, streams: ['sideways'] }] },
    { ...ok, loss: [{ direction: 'outbound', probability: 0.3, streams: ['upstream'], destination: '10.0.0.1/32 -j ACCEPT' }] },
    { ...ok, dns: 'yes' },
  ];
  for (const [i, demand] of hostile.entries()) t.match(handle(keeper, { type: 'apply', id: 10 + i, demand }), { ok: false, error: /^refused: / }, JSON.stringify(demand.loss ?? demand.dns));
  t.equal(applied.length, 1, 'nothing refused reached the keeper');
});
