import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = [
  '{name: tcp, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}',
  '{name: udp, listen: "127.0.0.1:0", upstream: "127.0.0.1:2", protocol: udp, idleTimeout: 30s}',
  '{name: dns, listen: "127.0.0.1:0", upstream: "127.0.0.1:53", protocol: dns}',
];

function problems(rules: string, extraListeners: string[] = []): string[] {
  try {
    compilePolicy(policyText({ listeners: [...listeners, ...extraListeners], rules }), 'p.yaml');
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines().map((l) => l.replace(/^p\.yaml:\d+:\d+: /, ''));
    throw err;
  }
}

t.test('DNS rules: match.dns, DNS faults only, the DNS proxy or a dns listener', async (t) => {
  const policy = compilePolicy(
    policyText({
      listeners,
      rules: `    - name: d
      match: {listener: dns, dns: {names: ["*.Payments.svc.cluster.local.", "api.example.com"], types: [A, AAAA, SRV]}}
      faults: [{type: dns_error, rcode: NXDOMAIN}, {type: dns_delay, delay: 5ms, probability: 0.5, firstConnections: 3}]`,
    }),
    'p.yaml',
  );
  const rule = policy.rules[0];
  t.ok(rule?.dns?.({ name: 'db.payments.svc.cluster.local', type: 'A', transport: 'udp' }), 'a glob, case and trailing dot ignored');
  t.notOk(rule?.dns?.({ name: 'db.payments.svc.cluster.local', type: 'TXT', transport: 'udp' }), 'types must match');
  t.notOk(rule?.dns?.({ name: 'api.example.com.evil', type: 'A', transport: 'udp' }), 'names match whole');
  t.match(rule?.faults[1], { probability: 0.5, firstConnections: 3, streams: [] });
  t.same(problems('    - {name: r, match: {dns: {names: ["a b"]}}, faults: [{type: dns_timeout}]}'), ['spec.rules[0].match.dns.names[0]: expected a DNS name or a glob such as "*.payments.svc.cluster.local"']);
  t.match(problems('    - {name: r, match: {dns: {types: [AXFR]}}, faults: [{type: dns_timeout}]}'), [/spec\.rules\[0\]\.match\.dns\.types\[0\]: expected a record type: A, AAAA, /]);
  t.same(problems('    - {name: r, match: {dns: {}}, faults: [{type: latency, latency: 1ms}]}'), ['spec.rules[0].faults[0].type: latency is not a DNS fault: rules with match.dns take dns_error, dns_delay, dns_timeout, dns_answer, dns_truncate']);
  t.same(problems('    - {name: r, faults: [{type: dns_error}]}'), ['spec.rules[0].faults[0].type: dns_error acts on DNS queries: the rule needs match.dns (e.g. {names: ["api.example.com"], types: [A]})']);
  t.same(problems('    - {name: r, match: {listener: tcp, dns: {}}, faults: [{type: dns_error}]}'), ['spec.rules[0].match.listener: listener "tcp" is a tcp listener: DNS rules match the DNS proxy (no listener) or a protocol: dns listener']);
  t.same(problems('    - {name: r, match: {listener: dns}, faults: [{type: latency, latency: 1ms}]}'), ['spec.rules[0].match.listener: listener "dns" is a DNS listener: its rules need match.dns (e.g. {names: ["*"]})']);
  t.same(problems('    - {name: r, match: {protocol: http, dns: {}}, faults: [{type: dns_error}]}'), ['spec.rules[0].match.dns: a DNS rule matches DNS queries only: put protocol/http/grpc/sni matches in another rule']);
  t.same(problems('    - {name: r, match: {dns: {}}, faults: [{type: dns_error, stream: upstream}]}'), ['spec.rules[0].faults[0].stream: does not apply to dns_error faults']);
});

t.test('UDP listeners take datagram faults; duplicate and reorder need one', async (t) => {
  t.same(problems('    - {name: r, match: {listener: udp}, faults: [{type: latency, latency: 1ms}, {type: loss, probability: 0.1}, {type: duplicate, probability: 0.1}, {type: reorder, probability: 0.1}, {type: bandwidth, rate: 1MiB/s}, {type: blackhole}]}'), []);
  t.same(problems('    - {name: r, match: {listener: udp}, faults: [{type: reset}]}'), ['spec.rules[0].faults[0].type: reset does not act on datagrams: rules of a udp listener take latency, bandwidth, blackhole, loss, duplicate, reorder']);
  t.same(problems('    - {name: r, match: {listener: tcp}, faults: [{type: duplicate, probability: 0.1}]}'), ['spec.rules[0].faults[0].type: duplicate acts on datagrams: the rule needs match.listener naming a protocol: udp listener']);
  t.same(problems('    - {name: r, faults: [{type: reorder, probability: 0.1}]}'), ['spec.rules[0].faults[0].type: reorder acts on datagrams: the rule needs match.listener naming a protocol: udp listener']);
  t.same(problems('    - {name: r, match: {listener: tcp}, faults: [{type: latency, latency: 1ms}]}', ['{name: t2, listen: "127.0.0.1:0", upstream: "127.0.0.1:1", idleTimeout: 1s}']), ['spec.listeners[3].idleTimeout: idleTimeout applies to protocol: udp listeners']);
  t.same(problems('', ['{name: d2, listen: "127.0.0.1:0", upstream: "resolver.local:53", protocol: dns}']), ['spec.listeners[3].upstream: a DNS listener forwards to a resolver\'s IP:PORT (a name would need a resolver to find it)']);
  t.match(problems('', ['{name: q, listen: "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: quic}']), [/spec\.listeners\[3\]\.protocol: /]);
});
