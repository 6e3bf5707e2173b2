import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:6379"}'];

/** Compiles a policy with `fault` as its only fault (block YAML) and returns the problem lines. */
function problems(rules: string): string[] {
  try {
    compilePolicy(policyText({ listeners, rules }), 'p.yaml');
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines();
    throw err;
  }
}

const rule = (fault: string, extra = '') => `    - name: r1
      match: {listener: up}${extra}
      faults:
        - ${fault}`;

t.test('a valid policy compiles, with defaults filled in', async (t) => {
  const policy = compilePolicy(policyText({ listeners, rules: rule('{type: latency, latency: 1.5s, jitter: 20}') }), 'p.yaml');
  const fault = policy.rules[0]?.faults[0];
  t.equal(fault?.type.type, 'latency');
  t.same(fault?.options, { latency: 1500, jitter: 20 });
  t.same(fault?.streams, ['downstream'], 'latency defaults to downstream, like Toxiproxy');
  t.equal(fault?.probability, 1);
  t.equal(policy.enabled, true);
});

t.test('each bad input gets a message naming the field, at its line and column', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['unknown fault type', rule('{type: lag, latency: 1s}'), /^p\.yaml:11:18: spec\.rules\[0\]\.faults\[0\]\.type: "lag" is not a fault type \(known: latency/],
    ['negative duration', rule('{type: latency, latency: -5ms}'), /^p\.yaml:11:36: spec\.rules\[0\]\.faults\[0\]\.latency: duration must not be negative/],
    ['probability above 1', rule('{type: reset, probability: 1.2}'), /^p\.yaml:11:38: spec\.rules\[0\]\.faults\[0\]\.probability: probability must be within \[0, 1\]/],
    ['probability below 0', rule('{type: reset, probability: -0.1}'), /probability must be within \[0, 1\]/],
    ['unknown field in a fault', rule('{type: latency, latency: 1s, latenc: 2s}'), /^p\.yaml:11:40: spec\.rules\[0\]\.faults\[0\]\.latenc: unknown field "latenc"/],
    ['unknown field in a rule', rule('{type: refuse}', '\n      colour: red'), /^p\.yaml:10:7: spec\.rules\[0\]\.colour: unknown field "colour"/],
    ['missing required option', rule('{type: bandwidth}'), /spec\.rules\[0\]\.faults\[0\]\.rate: required field is missing/],
    ['bad rate', rule('{type: bandwidth, rate: fast}'), /invalid rate "fast" \(write e\.g\. "64KiB\/s"/],
    ['stream on an admission fault', rule('{type: refuse, stream: upstream}'), /stream: does not apply to refuse faults/],
    ['bad partition mode', rule('{type: partition, mode: sideways}'), /spec\.rules\[0\]\.faults\[0\]\.mode: /],
    ['L7 fault in an L4 rule', rule('{type: http_abort}'), /^p\.yaml:11:18: spec\.rules\[0\]\.faults\[0\]\.type: http_abort acts on requests: the rule needs an L7 match/],
    ['unknown listener reference', rule('{type: refuse}').replace('listener: up', 'listener: nope'), /spec\.rules\[0\]\.match\.listener: no listener named "nope"/],
  ];
  for (const [name, rules, expected] of cases) {
    const lines = problems(rules);
    t.equal(lines.length, 1, `${name}: one problem (${lines.join(' | ')})`);
    t.match(lines[0], expected, name);
  }
});

t.test('a duplicate rule name is reported at the second rule', async (t) => {
  const lines = problems(`${rule('{type: refuse}')}\n${rule('{type: refuse}')}`);
  t.same(lines, ['p.yaml:12:13: spec.rules[1].name: duplicate rule name "r1" (also rule 0)']);
});

t.test('every problem is reported, in file order', async (t) => {
  const lines = problems(`${rule('{type: latency, latency: -1}')}\n    - name: r2\n      faults: [{type: nope}]\n      extra: 1`);
  t.equal(lines.length, 3);
  t.ok(lines.every((l, i) => i === 0 || Number(l.split(':')[1]) >= Number(lines[i - 1]?.split(':')[1])), 'sorted by line');
});

t.test('malformed documents', async (t) => {
  const bad = (text: string) => {
    try {
      compilePolicy(text, 'x.yaml');
      return '';
    } catch (err) {
      return (err as PolicyError).lines().join('\n');
    }
  };
  t.match(bad('a: [1, 2'), /^x\.yaml:1:\d+: YAML: /);
  t.match(bad(''), /x\.yaml:1:1: the policy is empty/);
  t.match(bad('apiVersion: v1\nkind: FaultPolicy\nmetadata: {name: a}\nspec: {}\n'), /x\.yaml:1:13: apiVersion: apiVersion must be "faultline\.dev\/v1alpha1"/);
  t.match(bad(policyText({ listeners: ['{name: a, listen: "nowhere", upstream: "127.0.0.1:1"}'] })), /spec\.listeners\[0\]\.listen: expected HOST:PORT/);
  t.match(bad(policyText({ listeners: [], extra: '  expiresAt: tomorrow' })), /spec\.expiresAt: expiresAt must be an RFC 3339 time/);
});
