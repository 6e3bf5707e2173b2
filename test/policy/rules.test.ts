import t from 'tap';
import { loadRulesFile } from '../../src/policy/rules.js';

t.test('a rules file: one rule, a list, or a FaultPolicy; problems at FILE:LINE:COL', async (t) => {
  t.same(loadRulesFile('name: one\nfaults: [{type: refuse}]\n', 'r.yaml').map((r) => r.name), ['one'], 'a single rule');
  t.same(loadRulesFile('- {name: a, faults: [{type: refuse}]}\n- {name: b, match: {listener: up}, faults: [{type: blackhole}]}\n', 'r.yaml').map((r) => r.name), ['a', 'b'], 'a list; listeners the rules name are taken as known');
  const policy = 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - {name: c, faults: [{type: refuse}]}\n';
  t.same(loadRulesFile(policy, 'p.yaml').map((r) => r.name), ['c'], 'a FaultPolicy: its spec.rules');

  const problems = (text: string) => {
    try {
      loadRulesFile(text, 'bad.yaml');
      return [];
    } catch (err) {
      return (err as { lines(): string[] }).lines();
    }
  };
  t.match(problems('- {name: a, faults: [{type: refuse}]}\n- name: b\n  faults:\n    - {type: latency, latency: fast, bogus: 1}\n'), [
    /^bad\.yaml:4:32: \[1\]\.faults\[0\]\.latency: invalid duration "fast"/,
    /^bad\.yaml:4:38: \[1\]\.faults\[0\]\.bogus: unknown field "bogus"$/,
  ], 'each problem where it is in the file, its path from the file\'s root');
  t.match(problems('name: x\nfaults: [{type: teleport}]\n'), [/^bad\.yaml:2:17: faults\[0\]\.type: "teleport" is not a fault type/]);
  t.match(problems(''), [/^bad\.yaml:1:1: the file is empty/]);
  t.match(problems('[]\n'), [/^bad\.yaml:1:1: no rule to add/]);
  t.match(problems('- 3\n'), [/expected rules: mappings with name, match and faults/]);
  t.match(problems(policy.replace('    - {name: c, faults: [{type: refuse}]}\n', '    []\n')), [/spec\.rules: no rule to add/]);
  t.match(problems('- {name: a, faults: [{type: refuse}]}\n- {name: a, faults: [{type: refuse}]}\n'), [/duplicate rule name "a"/]);
});
