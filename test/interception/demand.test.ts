import t from 'tap';
import { interceptionDemand, kernelPartition, MAX_SELECTIONS } from '../../src/interception/demand.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

const both = { inbound: true, outbound: true };
const policy = (rules: string, listeners: string[] = []) => compilePolicy(policyText({ listeners, rules }), 'test.yaml');
const demandOf = (rules: string, capture = both, listeners: string[] = []) => interceptionDemand(policy(rules, listeners), true, capture);

t.test('no active fault, no demand; explicit listeners never count', async (t) => {
  const rules = `    - name: any
      faults: [{type: latency, latency: 10ms}]`;
  t.same(interceptionDemand(policy(rules), false, both), { redirect: [], partition: [], dns: false, loss: [], notes: [] }, 'faults off (enabled: false, expired, kill switch): nothing at all');
  t.same(demandOf(rules).redirect, [{ direction: 'inbound' }, { direction: 'outbound' }], 'a rule that matches everything captures both directions');
  const explicit = demandOf(
    `    - name: redis
      match: {listener: redis}
      faults: [{type: latency, latency: 10ms}]`,
    both,
    ['{name: redis, listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379"}'],
  );
  t.same(explicit, { redirect: [], partition: [], dns: false, loss: [], notes: [] }, 'a rule of an explicit listener needs no interception');
});

t.test('a rule past its own expiresAt needs nothing; one before it does', async (t) => {
  const rule = (at: string) => `    - name: timed
      expiresAt: "${at}"
      match: {direction: outbound, ports: [6379]}
      faults: [{type: latency, latency: 10ms}]`;
  const now = Date.parse('2026-12-01T12:00:00Z');
  t.same(interceptionDemand(policy(rule('2026-12-01T11:59:59Z')), true, both, now).redirect, [], 'expired: no selection');
  t.same(interceptionDemand(policy(rule('2026-12-01T12:00:01Z')), true, both, now).redirect, [{ direction: 'outbound', ports: [6379] }], 'not yet: captured');
});

t.test('direction, ports, destinations and sources become selections', async (t) => {
  const { redirect, notes } = demandOf(`    - name: db
      match: {direction: outbound, ports: [5432, 6432], destinations: ["10.0.0.0/8", "10.1.2.3:6432", "192.168.1.7:80", "fd00::1/64"]}
      faults: [{type: latency, latency: 10ms}]
    - name: web
      match: {direction: inbound, ports: [8080], sources: ["10.9.0.0/16", "10.8.0.1:40000"]}
      faults: [{type: reset}]
    - name: api
      match: {protocol: http, ports: [80, 80, 443]}
      faults: [{type: http_abort}]`);
  t.same(redirect, [
    { direction: 'outbound', family: 4, destination: '10.0.0.0/8', ports: [5432, 6432] },
    { direction: 'outbound', family: 4, destination: '10.1.2.3/32', ports: [6432] },
    { direction: 'outbound', family: 6, destination: 'fd00::/64', ports: [5432, 6432] },
    { direction: 'inbound', family: 4, source: '10.9.0.0/16', ports: [8080] },
    { direction: 'inbound', family: 4, source: '10.8.0.1/32', sourcePort: 40000, ports: [8080] },
    { direction: 'inbound', ports: [80, 443] },
    { direction: 'outbound', ports: [80, 443] },
  ], 'a peer port narrows the ports (192.168.1.7:80 is not among them: dropped); host bits cleared; an L7 rule captures its L4 part');
  t.same(notes, []);
});

t.test('host names cannot be CIDRs: they add nothing, and the notes say so', async (t) => {
  const named = demandOf(`    - name: by-name
      match: {destinations: ["db.default.svc:5432"]}
      faults: [{type: latency, latency: 10ms}]
    - name: mixed
      match: {sources: ["10.0.0.0/8", "client.local", "other.local"]}
      faults: [{type: latency, latency: 10ms}]`);
  t.same(named.redirect, [{ direction: 'inbound', family: 4, source: '10.0.0.0/8' }, { direction: 'outbound', family: 4, source: '10.0.0.0/8' }], 'only the CIDR of the mixed rule');
  t.match(named.notes, [/rule by-name: destinations db\.default\.svc:5432 is a host name, which captured traffic \(known by IP only\) never matches: nothing to capture/, /rule mixed: sources client\.local, other\.local are host names/]);
});

t.test('kernel partitions: unconditional ones only, reject before blackhole, no redirect for them', async (t) => {
  const { redirect, partition } = demandOf(`    - name: cut
      match: {direction: inbound, ports: [8080], sources: ["10.201.0.1"]}
      faults: [{type: partition}, {type: latency, latency: 1s}]
    - name: quiet
      match: {direction: outbound, destinations: ["10.202.0.0/24"]}
      faults: [{type: partition, mode: blackhole}]
    - name: sometimes
      match: {ports: [9000]}
      faults: [{type: partition, probability: 0.5}]
    - name: later
      match: {ports: [9001]}
      faults: [{type: partition, after: 1s}]
    - name: pinned
      scope: new-connections
      match: {ports: [9002]}
      faults: [{type: partition}]
    - name: one-way
      match: {ports: [9003]}
      faults: [{type: partition, stream: upstream}]`);
  t.same(partition, [
    { direction: 'inbound', family: 4, source: '10.201.0.1/32', ports: [8080], mode: 'reject' },
    { direction: 'outbound', family: 4, destination: '10.202.0.0/24', mode: 'blackhole' },
  ]);
  t.same(redirect.map((s) => s.ports?.[0]), [9000, 9000, 9001, 9001, 9002, 9002, 9003, 9003], 'the partitions the kernel cannot apply exactly go through the sidecar');
  const rule = policy(`    - name: both
      faults: [{type: partition, mode: blackhole}, {type: partition}]`).rules[0];
  t.equal(rule && kernelPartition(rule), 'reject', 'reject wins over blackhole in one rule, as in the engine');
  const sni = policy(`    - name: tls
      match: {sni: "*.example.com"}
      faults: [{type: partition}]`).rules[0];
  t.equal(sni && kernelPartition(sni), undefined, 'an sni rule is the sidecar\'s: the kernel cannot read server names');
  t.same(demandOf(`    - name: decrypt
      match: {direction: outbound, ports: [443], sni: api.example.com}
      tls: terminate`).redirect, [{ direction: 'outbound', ports: [443] }], 'a terminating rule with no fault of its own still brings its traffic to the sidecar');
});

t.test('duplicates and subsumed selections go; too many are widened, never narrowed', async (t) => {
  const { redirect } = demandOf(`    - name: a
      match: {direction: outbound, ports: [6379]}
      faults: [{type: latency, latency: 10ms}]
    - name: b
      match: {direction: outbound, ports: [6379]}
      faults: [{type: latency, latency: 20ms}]
    - name: c
      match: {direction: inbound, ports: [80]}
      faults: [{type: latency, latency: 20ms}]
    - name: d
      match: {direction: inbound}
      faults: [{type: latency, latency: 20ms}]`);
  t.same(redirect, [{ direction: 'outbound', ports: [6379] }, { direction: 'inbound' }], 'one selection for a and b; d takes all of inbound');

  const many = (n: number, sources: boolean) =>
    Array.from({ length: n }, (_, i) => `    - name: r${i}
      match: {direction: outbound, ports: [${1000 + i}], destinations: ["10.${i % 250}.0.0/16", "10.${i % 250}.1.0/24"]${sources ? `, sources: ["10.250.${i % 250}.0/24", "10.251.${i % 250}.0/24"]` : ''}}
      faults: [{type: latency, latency: 1ms}]`).join('\n');
  const widened = demandOf(many(40, true));
  t.ok(widened.redirect.length <= MAX_SELECTIONS, `at most ${MAX_SELECTIONS} selections (${widened.redirect.length})`);
  t.notOk(widened.redirect.some((s) => s.source), 'sources dropped first');
  t.ok(widened.redirect.some((s) => s.destination), 'destinations kept while they fit');
  t.match(widened.notes, [/widened to no-sources/]);
  t.match(demandOf(many(100, false)).notes, [/widened to ports/]);
  const ports = demandOf(many(100, false)).redirect;
  t.equal(ports.length, 100, 'one selection per port');
  const directions = demandOf(`${many(100, false)}\n${many(100, false).replace(/direction: outbound/g, 'direction: inbound').replace(/name: r/g, 'name: s')}`);
  t.same(directions.redirect, [{ direction: 'outbound' }, { direction: 'inbound' }], 'at last, whole directions');
  t.match(directions.notes, [/widened to directions/]);
});

t.test('a direction without a capture listener is not redirected, and the notes say so', async (t) => {
  const rules = `    - name: in
      match: {direction: inbound, ports: [80]}
      faults: [{type: latency, latency: 1ms}]
    - name: cut
      match: {direction: inbound, ports: [81]}
      faults: [{type: partition}]`;
  const { redirect, partition, notes } = demandOf(rules, { inbound: false, outbound: true });
  t.same(redirect, []);
  t.equal(partition.length, 1, 'kernel partitions need no listener');
  t.match(notes, [/no inbound capture listener/]);
});
