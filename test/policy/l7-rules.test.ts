import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { FaultEngine } from '../../src/engine/engine.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { compileGlob } from '../../src/policy/match.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:6379"}'];

function problems(rules: string): string[] {
  try {
    compilePolicy(policyText({ listeners, rules }), 'p.yaml');
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines();
    throw err;
  }
}

const rule = (match: string, fault: string, extra = '') => `    - name: r1
      match: ${match}${extra}
      faults:
        - ${fault}`;

t.test('valid L7 rules compile, with defaults', async (t) => {
  const policy = compilePolicy(
    policyText({
      listeners,
      rules: `${rule('{protocol: http, http: {methods: [get], paths: ["/api/*"], headers: {x-user: "test*"}}}', '{type: http_abort}', '\n      allowHeaderOverrides: true')}
    - name: r2
      match: {grpc: {methods: ["/pkg.Svc/*"]}}
      faults: [{type: http_delay, delay: 1s, phase: response}, {type: rate_limit, rate: 10}]
    - name: r3
      match: {protocol: ws}
      faults: [{type: ws_close}, {type: ws_drop, probability: 0.1}, {type: ws_delay, delay: 5ms}, {type: http_throttle, rate: 1KiB/s}]
    - name: r4
      match: {sni: "*.example.com"}
      faults: [{type: latency, latency: 5ms}]`,
    }),
    'p.yaml',
  );
  const [r1, r2, r3, r4] = policy.rules;
  t.same(r1?.faults[0]?.options, { status: 503 });
  t.equal(r1?.allowHeaderOverrides, true);
  t.same(r3?.faults[0]?.options, { code: 1011, reason: 'fault injected' });
  t.same(r2?.faults[0]?.options, { delay: 1000, phase: 'response' });
  t.ok(r1?.request?.({ protocol: 'http', method: 'GET', path: '/api/v1', headers: { 'x-user': 'tester' } }));
  t.notOk(r1?.request?.({ protocol: 'http', method: 'GET', path: '/api/v1', headers: {} }), 'header must match');
  t.notOk(r1?.request?.({ protocol: 'grpc', method: 'POST', path: '/api/v1', headers: { 'x-user': 'test' } }), 'http rules do not take gRPC');
  t.ok(r2?.request?.({ protocol: 'grpc', method: 'POST', path: '/pkg.Svc/Get', headers: {} }));
  t.equal(r4?.sni, true);
  t.equal(r4?.request, undefined);

  const engine = new FaultEngine();
  engine.setPolicy(policy);
  const meta = { listener: 'up', direction: 'outbound' as const, source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 6379 } };
  t.same(engine.inspection(meta), { requests: true, sni: true, reconnect: true, handshake: false, terminate: false });
  const state = engine.open(meta);
  t.same(engine.plan(state).active, [], 'no connection fault before the server name is known');
  t.same(engine.learnSni(state, 'api.example.com'), {});
  t.equal(engine.plan(state).active[0]?.type.type, 'latency');
  engine.killSwitch = true;
  t.same(engine.evaluateRequest(state, { protocol: 'http', method: 'GET', path: '/api/x', headers: { 'x-user': 'test' } }), [], 'kill switch');
});

t.test('L7 validation errors, each at its line and column', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['ws fault in an http rule', rule('{protocol: http}', '{type: ws_drop}'), /^p\.yaml:11:18: spec\.rules\[0\]\.faults\[0\]\.type: ws_drop acts on WebSocket messages: the rule needs match\.protocol: ws/],
    ['connection fault in an L7 rule', rule('{protocol: http}', '{type: latency, latency: 1s}'), /latency is a connection fault: put it in a rule without protocol\/http\/grpc/],
    ['sni with an L7 match', rule('{protocol: http, sni: a.b}', '{type: http_abort}'), /match\.sni: sni matches TLS connections/],
    ['bad grpc method', rule('{grpc: {methods: [Say]}}', '{type: http_abort}'), /match\.grpc\.methods\[0\]: "Say" is not a gRPC method/],
    ['tcp with an http match', rule('{protocol: tcp, http: {paths: [/]}}', '{type: http_abort}'), /tcp rules see no requests/],
    ['grpc match in an http rule', rule('{protocol: http, grpc: {methods: ["/a.B/C"]}}', '{type: http_abort}'), /a grpc match needs protocol: grpc/],
    ['header overrides without L7', rule('{listener: up}', '{type: reset}', '\n      allowHeaderOverrides: true'), /allowHeaderOverrides: Envoy fault headers are read from requests/],
    ['status out of range', rule('{protocol: http}', '{type: http_abort, status: 99}'), /status: status must be 200-599/],
    ['unsendable close code', rule('{protocol: ws}', '{type: ws_close, code: 1006}'), /code: code must be a sendable close code/],
    ['bad sni', rule('{sni: "a b"}', '{type: reset}'), /match\.sni: expected a server name/],
    ['stream on http_abort', rule('{protocol: http}', '{type: http_abort, stream: upstream}'), /stream: does not apply to http_abort faults/],
  ];
  for (const [name, rules, expected] of cases) {
    const lines = problems(rules);
    t.equal(lines.length, 1, `${name}: one problem (${lines.join(' | ')})`);
    t.match(lines[0], expected, name);
  }
});

t.test('globs', async (t) => {
  t.ok(compileGlob('/api/*').test('/api/v1/x'));
  t.notOk(compileGlob('/api/?').test('/api/12'));
  t.ok(compileGlob('a.(b)+c').test('a.(b)+c'), 'regex characters are literal');
});
