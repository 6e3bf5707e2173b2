import t from 'tap';
import { ExperimentFileError } from '../../src/errors.js';
import { loadExperiment } from '../../src/experiments/load.js';
import { planActions } from '../../src/experiments/plan.js';

const base = (method: string, extra = '') => `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: shop}
spec:
  targets:
    - {name: a, admin: {url: "http://127.0.0.1:15000", tokenFile: /t}}
  steadyState:
    probes:
      - {name: p, tcp: {address: "127.0.0.1:5432"}}
${extra}  method:
${method}`;

function problems(text: string): string[] {
  try {
    loadExperiment(text, 'e.yaml');
    return [];
  } catch (err) {
    if (err instanceof ExperimentFileError) return err.lines();
    throw err;
  }
}

t.test('a valid experiment loads, with defaults', async (t) => {
  const doc = loadExperiment(base('    - {name: s, rules: [{name: r, faults: [{type: latency, latency: 5ms}]}], duration: 2s}\n    - {wait: 1s}\n    - {name: up, scenario: partition, ramp: {probabilities: [0.5, 1], every: 1s}}'), 'e.yaml');
  t.equal(doc.spec.steadyState.before, 5000);
  t.same(doc.spec.abort, { consecutiveFailures: 3, window: 10, driftMinRequests: 20 });
  t.equal(doc.spec.steadyState.probes[0]?.interval, 1000);
  const actions = planActions(doc, 1);
  t.same(actions.map((a) => a.kind), ['apply', 'wait', 'apply']);
  t.same(actions[0]?.kind === 'apply' && actions[0].rules[0]?.name, 'exp.shop.r', 'the experiment\'s prefix');
  t.same(actions[2]?.kind === 'apply' && actions[2].stages, [{ ms: 1000, probability: 0.5 }, { ms: 1000, probability: 1 }]);
  t.same(actions[2]?.kind === 'apply' && actions[2].rules, [{ name: 'exp.shop.up', scenario: 'partition' }]);
});

t.test('every problem has FILE:LINE:COL, rules checked by the policy loader where they are', async (t) => {
  const cases: [string, string, RegExp, string?][] = [
    ['unknown field in a step', '    - {name: s, wait: 1s, colour: red}', /^e\.yaml:11:27: spec\.method\[0\]\.colour: unknown field "colour"$/],
    ['a bad fault in a step rule', '    - {name: s, rules: [{name: r, faults: [{type: latency, latency: -1ms}]}], duration: 1s}', /^e\.yaml:11:69: spec\.method\[0\]\.rules\[0\]\.faults\[0\]\.latency: duration must not be negative/],
    ['an unknown fault field', '    - {name: s, rules: [{name: r, faults: [{type: reset, byts: 5}]}], duration: 1s}', /^e\.yaml:11:58: spec\.method\[0\]\.rules\[0\]\.faults\[0\]\.byts: unknown field "byts"/],
    ['an unknown scenario', '    - {name: s, scenario: nope, duration: 1s}', /^e\.yaml:11:27: spec\.method\[0\]\.scenario: unknown scenario "nope" \(known: network_degradation/],
    ['a scenario override', '    - {name: s, scenario: slow_backend, faults: [{type: latency, latency: x}], duration: 1s}', /^e\.yaml:11:75: spec\.method\[0\]\.faults\[0\]\.latency: invalid duration "x"/],
    ['no duration', '    - {name: s, rules: [{name: r, faults: [{type: refuse}]}]}', /^e\.yaml:11:7: spec\.method\[0\]: a step that applies faults needs duration/],
    ['two kinds', '    - {name: s, wait: 1s, scenario: partition}', /^e\.yaml:11:7: spec\.method\[0\]: a step has one of wait, rules, scenario, podKill and scale \(this one has wait and scenario\)/],
    ['a wait with a target', '    - {wait: 1s, targets: [a]}', /^e\.yaml:11:18: spec\.method\[0\]\.targets: a wait step applies nothing/],
    ['an unknown target', '    - {name: s, targets: [b], scenario: partition, duration: 1s}', /^e\.yaml:11:27: spec\.method\[0\]\.targets\[0\]: no target named "b"/],
    ['a long rule name', `    - {name: s, rules: [{name: ${'r'.repeat(60)}, faults: [{type: refuse}]}], duration: 1s}`, /spec\.method\[0\]\.rules\[0\]\.name: with the experiment's prefix "exp\.shop\." the rule name is over 63 characters/],
    ['an L7 fault in an L4 rule', '    - {name: s, rules: [{name: r, faults: [{type: http_abort}]}], duration: 1s}', /spec\.method\[0\]\.rules\[0\]\.faults\[0\]\.type: http_abort acts on requests/],
    ['random: unknown type', '    - {wait: 1s}', /^e\.yaml:10:66: spec\.random\.types\[0\]: "lag" cannot be drawn \(known: latency/, '  random: {probability: 0.5, interval: 1s, duration: 5s, types: [lag]}\n'],
  ];
  for (const [name, method, expected, extra] of cases) {
    const lines = problems(base(method, extra));
    t.equal(lines.length, 1, `${name}: one problem (${lines.join(' | ')})`);
    t.match(lines[0], expected, name);
  }
  t.match(problems('apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec:\n  targets: [{name: a}, {name: a, admin: {url: "ftp://x"}}]\n  steadyState: {probes: [{name: p}]}\n'), [
    /^e\.yaml:5:3: spec: an experiment needs a method \(steps\) or random/,
    /^e\.yaml:5:13: spec\.targets\[0\]: a target needs admin/,
    /^e\.yaml:5:31: spec\.targets\[1\]\.name: duplicate target name "a"/,
    /^e\.yaml:5:47: spec\.targets\[1\]\.admin\.url: expected an http/,
    /^e\.yaml:6:26: spec\.steadyState\.probes\[0\]: a probe needs http/,
  ]);
  t.match(problems('kind: Experiment\n'), [/^e\.yaml:1:1: apiVersion: required field is missing/]);
  t.match(problems(''), [/the experiment is empty/]);
  t.match(problems('a: [1'), [/^e\.yaml:1:\d+: YAML: /]);
});
