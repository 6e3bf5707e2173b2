import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { FaultEngine } from '../../src/engine/engine.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { ConnectionMeta } from '../../src/policy/match.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:443"}'];

function problems(rules: string, tlsCa?: boolean): string[] {
  try {
    compilePolicy(policyText({ listeners, rules }), 'p.yaml', { tlsCa });
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines();
    throw err;
  }
}

t.test('TLS rules compile: handshake faults under sni or protocol: tls, terminate rules with or without faults', async (t) => {
  const policy = compilePolicy(
    policyText({
      listeners,
      rules: `    - {name: reject, match: {sni: "*.example.com"}, faults: [{type: tls_reject, alert: unrecognized_name}]}
    - {name: any-tls, match: {listener: up, protocol: tls}, faults: [{type: tls_delay, delay: 1s, phase: serverhello}, {type: latency, latency: 5ms}]}
    - name: decrypt
      match: {sni: api.example.com}
      tls: terminate
    - name: https-errors
      match: {sni: api.example.com, protocol: http, http: {paths: ["/checkout"]}}
      tls: terminate
      faults: [{type: http_abort}]`,
    }),
    'p.yaml',
    { tlsCa: true },
  );
  const [reject, anyTls, decrypt, errors] = policy.rules;
  t.same([reject?.sni, anyTls?.sni, decrypt?.sni, errors?.sni], [true, true, true, true]);
  t.same([reject?.terminate, decrypt?.terminate, errors?.terminate], [false, true, true]);
  t.same(decrypt?.faults, [], 'a terminating rule needs no faults');
  t.ok(errors?.request, 'with tls: terminate an sni rule may match requests');

  const engine = new FaultEngine();
  engine.setPolicy(policy);
  const meta: ConnectionMeta = { listener: 'up', direction: 'outbound', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 443 } };
  t.same(engine.inspection(meta), { requests: true, sni: true, reconnect: true, handshake: true, terminate: true }, 'protocol: tls is not matched before the first bytes');
  const state = engine.open({ ...meta });
  t.notOk(anyTls?.match(state.meta), 'protocol: tls needs a ClientHello');
  t.notOk(engine.terminates(state), 'nothing terminates before the hello');
  engine.learnSni(state, undefined);
  t.same(engine.handshakeFaults(state).map((f) => f.type.type), ['tls_delay'], 'a hello without a name: protocol: tls matches, sni rules do not');
  t.notOk(engine.terminates(state));
  const named = engine.open({ ...meta });
  engine.learnSni(named, 'api.example.com');
  t.ok(engine.terminates(named));
  t.same(engine.handshakeFaults(named).map((f) => f.type.type), ['tls_reject', 'tls_delay'], 'a named hello: both rules');
  engine.killSwitch = true;
  t.notOk(engine.terminates(named), 'the kill switch: nothing is decrypted any more');
  t.same(engine.handshakeFaults(named), []);
});

t.test('TLS validation errors, each at its line and column', async (t) => {
  const cases: [string, string, RegExp, boolean?][] = [
    ['a handshake fault without sni', '    - {name: r, match: {listener: up}, faults: [{type: tls_reject}]}', /^p\.yaml:8:56: spec\.rules\[0\]\.faults\[0\]\.type: tls_reject acts on the TLS handshake: the rule needs match\.sni or match\.protocol: tls/],
    ['an unknown alert', '    - {name: r, match: {sni: a.b}, faults: [{type: tls_reject, alert: nope}]}', /faults\[0\]\.alert: expected a TLS alert: close_notify, .*unrecognized_name/],
    ['an unknown kind', '    - {name: r, match: {sni: a.b}, faults: [{type: tls_certificate, kind: revoked}]}', /faults\[0\]\.kind: expected a certificate kind: expired, not_yet_valid, self_signed, unknown_ca, wrong_host, weak_signature/],
    ['terminate without a CA', '    - {name: r, match: {sni: a.b}, tls: terminate}', /^p\.yaml:8:41: spec\.rules\[0\]\.tls: tls: terminate signs a leaf certificate per server name with the sidecar's CA: start the sidecar with --tls-ca-cert and --tls-ca-key/, false],
    ['a CA-signed kind without a CA', '    - {name: r, match: {sni: a.b}, faults: [{type: tls_certificate, kind: expired}]}', /tls_certificate of this kind is signed by the CA the clients trust/, false],
    ['terminate with protocol: tcp', '    - {name: r, match: {protocol: tcp}, tls: terminate}', /match\.protocol: tls: terminate decrypts TLS connections: drop protocol: tcp/],
    ['terminate in a DNS rule', '    - {name: r, match: {dns: {}}, tls: terminate}', /tls: DNS rules see no TLS connections/],
    ['protocol: tls with a request match', '    - {name: r, match: {protocol: tls, http: {paths: [/]}}, faults: [{type: http_abort}]}', /match\.protocol: protocol: tls rules act on TLS connections, not requests/],
    ['sni and L7 without terminate', '    - {name: r, match: {sni: a.b, protocol: http}, faults: [{type: http_abort}]}', /match\.sni: sni matches TLS connections, whose requests are not decrypted: add tls: terminate/],
    ['another tls value', '    - {name: r, match: {sni: a.b}, tls: passthrough, faults: [{type: reset}]}', /spec\.rules\[0\]\.tls: tls takes one value: terminate/],
    ['no fault and no terminate', '    - {name: r, match: {sni: a.b}, faults: []}', /faults: a rule needs at least one fault \(or tls: terminate\)/],
    ['no faults field and no terminate', '    - {name: r, match: {sni: a.b}}', /faults: required field is missing/],
    ['a handshake fault in an L7 rule', '    - {name: r, match: {sni: a.b, protocol: http}, tls: terminate, faults: [{type: tls_delay, delay: 1s}]}', /tls_delay is a connection fault: put it in a rule without protocol\/http\/grpc/],
  ];
  for (const [name, rules, expected, tlsCa] of cases) {
    const lines = problems(rules, tlsCa);
    t.equal(lines.length, 1, `${name}: one problem (${lines.join(' | ')})`);
    t.match(lines[0], expected, name);
  }
  t.same(problems('    - {name: r, match: {sni: a.b}, tls: terminate}'), [], '`faultline validate` knows no CA: it does not refuse for want of one');
  t.same(problems('    - {name: r, match: {sni: a.b}, faults: [{type: tls_certificate, kind: self_signed}]}', false), [], 'self_signed needs no CA');
});

t.test('scenarios and TLS rules: an HTTP scenario goes in a terminating sni rule, a connection one in a protocol: tls rule', async (t) => {
  const policy = compilePolicy(
    policyText({
      listeners,
      rules: `    - {name: https-chaos, match: {sni: api.example.com}, tls: terminate, scenario: peak_traffic}
    - {name: slow-tls, match: {protocol: tls}, scenario: slow_backend}`,
    }),
    'p.yaml',
  );
  t.same(policy.rules.map((r) => [r.name, r.request !== undefined, r.faults.map((f) => f.type.type)]), [['https-chaos', true, ['rate_limit']], ['slow-tls', false, ['latency']]]);
  t.match(problems('    - {name: s, match: {sni: a.b}, scenario: peak_traffic}')[0], /peak_traffic acts on HTTP requests: drop sni \(or add tls: terminate\) from the match/);
  t.match(problems('    - {name: s, match: {protocol: tls}, scenario: peak_traffic}')[0], /peak_traffic acts on HTTP requests: drop protocol: tls from the match/);
});
