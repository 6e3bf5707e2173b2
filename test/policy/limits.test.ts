import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { MAX_POLICY_BYTES, MAX_POLICY_DEPTH } from '../../src/policy/limits.js';
import { policyText } from '../helpers/sidecar.js';

const refusal = (text: string): PolicyError => {
  try {
    compilePolicy(text, 'big.yaml');
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('accepted');
};

t.test('a policy over 1 MiB is refused before it is parsed, in one line', async (t) => {
  const padding = `# ${'x'.repeat(MAX_POLICY_BYTES)}\n`;
  const err = refusal(policyText({}) + padding);
  t.same(err.lines(), [`big.yaml:1:1: the policy is ${MAX_POLICY_BYTES + policyText({}).length + 3} bytes, over the 1048576-byte limit (1 MiB, as a ConfigMap): split it, or use FaultPolicy objects`]);
  t.equal(err.problems[0]?.code, 'FL_ERR_POLICY_TOO_LARGE');
  t.doesNotThrow(() => compilePolicy(policyText({}) + `# ${'x'.repeat(MAX_POLICY_BYTES - 1024)}\n`, 'ok.yaml'), 'just under the limit: fine');
});

t.test('deeply nested YAML is refused at once, and costs no lasting memory', async (t) => {
  const nested = `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: x}\nspec: {rules: ${'['.repeat(100_000)}\n`;
  const err = refusal(nested);
  t.same(err.lines(), [`big.yaml:4:${"spec: {rules: ".length + MAX_POLICY_DEPTH}: nested deeper than ${MAX_POLICY_DEPTH} levels: not a policy`]);
  const blocks = `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: x}\nspec:\n${Array.from({ length: 300 }, (_, i) => `${' '.repeat(i + 2)}a${i}:`).join('\n')}\n`;
  t.match(refusal(blocks).lines()[0], /nested deeper than 64 levels/);
  const before = process.memoryUsage().rss;
  const started = performance.now();
  for (let i = 0; i < 20; i++) refusal(`spec: ${'{a: ['.repeat(40_000)}`);
  const ms = performance.now() - started;
  global.gc?.();
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  t.ok(grown < 32, `20 refusals of 200 KB nested YAML: RSS +${grown.toFixed(1)} MiB`);
  t.ok(ms < 2000, `in ${ms.toFixed(0)} ms`);
});
