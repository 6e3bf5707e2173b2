import t from 'tap';
import type { Demand } from '../../src/interception/demand.js';
import { DEFAULT_CONFIG, type InterceptionConfig } from '../../src/interception/iptables.js';
import { describeRendered, leaseStamp, renderDemand, restoreInput } from '../../src/interception/on-demand-rules.js';
import { RuleKeeper } from '../../src/interception/rule-keeper.js';
import { parseCidrs } from '../../src/interception/values.js';
import { canUseNetns, nsExec, oneNamespace } from '../helpers/netns.js';

const LEASE = Date.parse('2026-12-01T09:00:00.200Z');
const lines = (config: InterceptionConfig, demand: Demand, family: 4 | 6 = 4) => describeRendered(renderDemand(config, demand, family, LEASE));
const none: Demand = { redirect: [], partition: [] };

t.test('an empty demand renders nothing: no chain, no jump', async (t) => {
  const rendered = renderDemand(DEFAULT_CONFIG, none, 4, LEASE);
  t.same(rendered.jumps, []);
  t.equal(rendered.tables.nat.size + rendered.tables.filter.size, 0);
  t.equal(restoreInput(undefined, undefined), '', 'and nothing to run');
});

t.test('redirects: the lease first, the exemptions of faultline iptables, then exactly the selections', async (t) => {
  t.equal(leaseStamp(LEASE), '2026-12-01T09:00:01', 'the lease ends on the next whole second, UTC');
  const config = { ...DEFAULT_CONFIG, excludeOutboundPorts: [5432], excludeOutboundCidrs: parseCidrs('10.96.0.0/12,fd00:96::/64', 'x') };
  const demand: Demand = {
    redirect: [
      { direction: 'inbound', ports: [8080] },
      { direction: 'outbound', family: 4, destination: '10.202.0.2/32', ports: [9090, 9091] },
    ],
    partition: [],
  };
  const rules = lines(config, demand);
  t.same(rules, [
    'iptables -t nat -I PREROUTING 1 -p tcp -j FAULTLINE_INBOUND',
    'iptables -t nat -I OUTPUT 1 -p tcp -j FAULTLINE_OUTPUT',
    'iptables -t nat -A FAULTLINE_INBOUND -m time --datestart 2026-12-01T09:00:01 -j RETURN',
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 15000 -j RETURN',
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 15001 -j RETURN',
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 15006 -j RETURN',
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 15020 -j RETURN',
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 8080 -j FAULTLINE_IN_REDIRECT',
    'iptables -t nat -A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
    'iptables -t nat -A FAULTLINE_OUTPUT -m time --datestart 2026-12-01T09:00:01 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -m owner --uid-owner 1337 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -m owner --gid-owner 1337 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -o lo -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -d 127.0.0.0/8 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 5432 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -d 10.96.0.0/12 -j RETURN',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp -d 10.202.0.2/32 -m multiport --dports 9090,9091 -j FAULTLINE_REDIRECT',
    'iptables -t nat -A FAULTLINE_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  ]);
  const six = lines(config, demand, 6);
  t.ok(six.includes('ip6tables -t nat -A FAULTLINE_OUTPUT -d fd00:96::/64 -j RETURN') || !six.some((l) => l.includes('FAULTLINE_OUTPUT')), 'IPv6 gets its own exemptions');
  t.notOk(six.some((l) => l.includes('10.202.0.2')), 'an IPv4 destination is not sent to ip6tables');
  t.ok(six.includes('ip6tables -t nat -A FAULTLINE_INBOUND -p tcp --dport 8080 -j FAULTLINE_IN_REDIRECT'), 'a selection without address goes to both families');
});

t.test("the pod's own settings narrow every selection", async (t) => {
  const config = { ...DEFAULT_CONFIG, inboundPorts: [8080, 8443], excludeInboundPorts: [8443], excludeOutboundPorts: [53], includeOutboundCidrs: parseCidrs('10.0.0.0/8,192.168.0.0/16', 'x') };
  const rules = lines(config, {
    redirect: [
      { direction: 'inbound' },
      { direction: 'inbound', ports: [9000] },
      { direction: 'outbound' },
      { direction: 'outbound', family: 4, destination: '10.1.0.0/16', ports: [53, 80] },
      { direction: 'outbound', family: 4, destination: '172.16.0.0/12' },
      { direction: 'outbound', ports: [53] },
    ],
    partition: [],
  }).filter((l) => l.includes('_REDIRECT') && !l.includes('REDIRECT --to-ports'));
  t.same(rules, [
    'iptables -t nat -A FAULTLINE_INBOUND -p tcp --dport 8080 -j FAULTLINE_IN_REDIRECT',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp -d 10.0.0.0/8 -j FAULTLINE_REDIRECT',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp -d 192.168.0.0/16 -j FAULTLINE_REDIRECT',
    'iptables -t nat -A FAULTLINE_OUTPUT -p tcp -d 10.1.0.0/16 --dport 80 -j FAULTLINE_REDIRECT',
  ], 'included inbound ports only (not excluded ones), included CIDRs only (intersected), excluded ports dropped');
  t.same(lines(config, { redirect: [{ direction: 'outbound' }], partition: [] }, 6).filter((l) => l.includes('-j FAULTLINE_REDIRECT')), [], 'IPv4-only includes capture no IPv6');
});

t.test('multiport: at most 15 ports a rule', async (t) => {
  const ports = Array.from({ length: 20 }, (_, i) => 2000 + i);
  const rules = lines(DEFAULT_CONFIG, { redirect: [{ direction: 'outbound', ports }], partition: [] }).filter((l) => l.includes('multiport'));
  t.equal(rules.length, 2);
  t.match(rules[0], /--dports 2000,2001,.*,2014 -j/);
  t.match(rules[1], /--dports 2015,2016,2017,2018,2019 -j/);
});

t.test('partitions: filter rules for both packet directions, own RSTs let through, exemptions mirrored', async (t) => {
  const config = { ...DEFAULT_CONFIG, excludeOutboundPorts: [53] };
  const rules = lines(config, {
    redirect: [],
    partition: [
      { direction: 'inbound', family: 4, source: '10.201.0.1/32', sourcePort: 40000, ports: [8080], mode: 'reject' },
      { direction: 'outbound', family: 4, destination: '10.202.0.0/24', ports: [9090, 9091], mode: 'blackhole' },
    ],
  });
  t.notOk(rules.some((l) => l.includes('-t nat')), 'no nat rule at all');
  t.same(rules.filter((l) => /REJECT|DROP|-i lo|-o lo|53/.test(l)), [
    'iptables -t filter -A FAULTLINE_PART_IN -i lo -j RETURN',
    'iptables -t filter -A FAULTLINE_PART_IN -p tcp --sport 53 -j RETURN',
    'iptables -t filter -A FAULTLINE_PART_IN -p tcp ! --tcp-flags RST RST -s 10.201.0.1/32 --sport 40000 --dport 8080 -j REJECT --reject-with tcp-reset',
    'iptables -t filter -A FAULTLINE_PART_IN -p tcp -s 10.202.0.0/24 -m multiport --sports 9090,9091 -j DROP',
    'iptables -t filter -A FAULTLINE_PART_OUT -o lo -j RETURN',
    'iptables -t filter -A FAULTLINE_PART_OUT -p tcp --dport 53 -j RETURN',
    'iptables -t filter -A FAULTLINE_PART_OUT -p tcp ! --tcp-flags RST RST -d 10.201.0.1/32 --sport 8080 --dport 40000 -j REJECT --reject-with tcp-reset',
    'iptables -t filter -A FAULTLINE_PART_OUT -p tcp -d 10.202.0.0/24 -m multiport --dports 9090,9091 -j DROP',
  ]);
  t.ok(rules.includes('iptables -t filter -A FAULTLINE_PART_IN -p tcp --dport 15020 -j RETURN'), 'the probes on 15020 are never cut');
  t.ok(rules.includes('iptables -t filter -A FAULTLINE_PART_OUT -p tcp --sport 15020 -j RETURN'), 'nor their answers');
});

t.test('restore input: one transaction per table from what is installed to what is wanted', async (t) => {
  const a = renderDemand(DEFAULT_CONFIG, { redirect: [{ direction: 'inbound', ports: [80] }], partition: [{ direction: 'inbound', ports: [81], mode: 'reject' }] }, 4, LEASE);
  const b = renderDemand(DEFAULT_CONFIG, { redirect: [{ direction: 'outbound', ports: [6379] }], partition: [] }, 4, LEASE);
  const install = restoreInput(a, undefined);
  t.match(install, /^\*nat\n:FAULTLINE_INBOUND - \[0:0\]\n:FAULTLINE_IN_REDIRECT - \[0:0\]\n(-A .*\n)+-I PREROUTING 1 -p tcp -j FAULTLINE_INBOUND\nCOMMIT\n\*filter\n/, 'chains declared (created or flushed), filled, then jumped to');
  t.notMatch(install, /-D |-X /, 'nothing to delete');
  const change = restoreInput(b, a);
  t.match(change, /-D PREROUTING -p tcp -j FAULTLINE_INBOUND\n-X FAULTLINE_INBOUND\n-X FAULTLINE_IN_REDIRECT\n/, 'the inbound side goes');
  t.match(change, /-I OUTPUT 1 -p tcp -j FAULTLINE_OUTPUT\nCOMMIT/, 'the outbound side comes');
  t.match(change, /\*filter\n:FAULTLINE_PART_IN - \[0:0\]\n:FAULTLINE_PART_OUT - \[0:0\]\n-D INPUT -p tcp -j FAULTLINE_PART_IN\n-D OUTPUT -p tcp -j FAULTLINE_PART_OUT\n-X FAULTLINE_PART_IN\n-X FAULTLINE_PART_OUT\nCOMMIT/, 'the partitions go');
  const renew = restoreInput(b, b);
  t.notMatch(renew, /-X /, 'a renewal rewrites our chains (with the new lease)...');
  t.match(renew, /^-D OUTPUT -p tcp -j FAULTLINE_OUTPUT\n(-A .*\n)+-I OUTPUT 1 -p tcp -j FAULTLINE_OUTPUT$/m, '...and checks its jump is there by deleting and inserting it, in the same transaction');
  t.notMatch(restoreInput(undefined, b), /-A /, 'removal adds nothing');
});

t.test('the rule keeper: transitions, a kernel out of step, lingering redirect chains', async (t) => {
  const runs: string[] = [];
  const cleanups: number[] = [];
  let failNext = false;
  const keeper = new RuleKeeper(
    DEFAULT_CONFIG,
    [4, 6],
    10_000,
    (family, input) => {
      if (failNext) {
        failNext = false;
        throw new Error('out of step');
      }
      runs.push(`${family}:${input}`);
    },
    (family) => cleanups.push(family),
  );
  keeper.reset();
  t.same(cleanups, [4, 6], 'start: stale chains removed for each family');
  t.same(keeper.apply(none, 0), { rules: [], lingering: [], leaseEnd: 0 }, 'nothing wanted, nothing installed: nothing run');
  t.equal(runs.length, 0);
  const installed = keeper.apply({ redirect: [{ direction: 'inbound', ports: [80] }], partition: [] }, 0);
  t.equal(installed.leaseEnd, 10_000);
  t.equal(runs.length, 2, 'one restore per family');
  t.ok(installed.rules.includes('ip6tables -t nat -A FAULTLINE_INBOUND -p tcp --dport 80 -j FAULTLINE_IN_REDIRECT'));
  failNext = true;
  keeper.apply({ redirect: [{ direction: 'inbound', ports: [81] }], partition: [] }, 1000);
  t.same(cleanups, [4, 6, 4], 'a failed transaction: our chains removed...');
  t.match(runs.at(-2), /^4:\*nat\n:FAULTLINE_INBOUND - \[0:0\]\n:FAULTLINE_IN_REDIRECT - \[0:0\]\n-A/, '...and the demand installed afresh');
  const removed = keeper.apply(none, 2000);
  t.same(removed.rules, [], 'removal: no rule acts');
  t.same(removed.lingering, ['iptables -t nat -A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006', 'ip6tables -t nat -A FAULTLINE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'], 'the REDIRECT chain stays, unreachable');
  t.match(runs.at(-1), /-D PREROUTING -p tcp -j FAULTLINE_INBOUND\n-X FAULTLINE_INBOUND\n-A FAULTLINE_IN_REDIRECT/);
  t.same(keeper.prune(['filter']).lingering.length, 2, 'pruning filter alone keeps it');
  t.same(keeper.prune(['filter', 'nat']), { rules: [], lingering: [], leaseEnd: 0 }, 'pruning nat removes it');
  t.match(runs.at(-1), /-X FAULTLINE_IN_REDIRECT\nCOMMIT/);
});

/** The tables as iptables-save prints them, our lines only. */
const ours = (ns: string, table: string) => nsExec(ns, ['iptables-save', '-t', table]).split('\n').filter((l) => l.includes('FAULTLINE'));

t.test('the rule keeper against the kernel: installs, renews, recovers, removes, prunes', { skip: canUseNetns() }, async (t) => {
  const ns = oneNamespace(t, 'fl-keep-');
  // The keeper runs iptables in this process's namespace: run it in a child inside `ns`.
  const script = (steps: string) => `
import { RuleKeeper } from ${JSON.stringify(new URL('../../src/interception/rule-keeper.ts', import.meta.url).href)};
import { DEFAULT_CONFIG } from ${JSON.stringify(new URL('../../src/interception/iptables.ts', import.meta.url).href)};
const keeper = new RuleKeeper(DEFAULT_CONFIG, [4], 10000);
const redirect = [{ direction: 'inbound', ports: [8080] }];
const partition = [{ direction: 'inbound', family: 4, source: '10.9.0.0/16', ports: [22], mode: 'reject' }];
${steps}`;
  const run = (steps: string) => nsExec(ns, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script(steps)]);
  run(`keeper.reset(); keeper.apply({ redirect, partition });`);
  const nat = ours(ns, 'nat');
  t.ok(nat.includes('-A PREROUTING -p tcp -j FAULTLINE_INBOUND') && nat.includes('-A FAULTLINE_INBOUND -p tcp -m tcp --dport 8080 -j FAULTLINE_IN_REDIRECT'), 'installed');
  t.ok(ours(ns, 'filter').some((l) => /-s 10\.9\.0\.0\/16 .*--dport 22 .*-j REJECT --reject-with tcp-reset/.test(l)), 'the partition is in the filter table');
  nsExec(ns, ['iptables', '-t', 'nat', '-F', 'FAULTLINE_INBOUND']);
  run(`keeper.reset(); keeper.apply({ redirect, partition }); keeper.apply({ redirect: [{ direction: 'inbound', ports: [8081] }], partition });`);
  t.ok(ours(ns, 'nat').some((l) => l.includes('--dport 8081 -j FAULTLINE_IN_REDIRECT')), 'a new keeper starts clean and changes in place');
  run(`
const { execFileSync } = await import('node:child_process');
keeper.reset();
keeper.apply({ redirect, partition });
execFileSync('iptables', ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'FAULTLINE_INBOUND']);
keeper.apply({ redirect: [{ direction: 'inbound', ports: [8082] }], partition });`);
  t.equal(ours(ns, 'nat').filter((l) => l === '-A PREROUTING -p tcp -j FAULTLINE_INBOUND').length, 1, 'a jump deleted by hand: the change fails, the keeper starts over, one jump');
  t.ok(ours(ns, 'nat').some((l) => l.includes('--dport 8082')));
  run(`keeper.reset(); keeper.apply({ redirect, partition }); keeper.apply({ redirect: [], partition: [] }); keeper.prune(['filter', 'nat']);`);
  t.same([...ours(ns, 'nat'), ...ours(ns, 'filter')], [], 'removed, then pruned: nothing of ours is left');
  t.notMatch(nsExec(ns, ['iptables-save']), /-A (PREROUTING|OUTPUT|INPUT)/);
});
