import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { faultPolicyCrd, toStructural } from '../../src/faultpolicy/crd.js';
import { checkFaultPolicy } from '../../src/faultpolicy/resource.js';
import { runCli } from '../helpers/process.js';
import { crdValidator } from '../helpers/crd-schema.js';
import { tempDir } from '../helpers/sidecar.js';

const crd = faultPolicyCrd() as any;
const schema = crd.spec.versions[0].schema.openAPIV3Schema as Record<string, unknown>;
const validate = crdValidator(schema);

/** Every `kind: FaultPolicy` document in the YAML blocks of a Markdown file. */
function examples(file: string): { where: string; object: Record<string, any> }[] {
  const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  const found: { where: string; object: Record<string, any> }[] = [];
  for (const m of text.matchAll(/```ya?ml\n([^]*?)```/g)) {
    const line = text.slice(0, m.index).split('\n').length;
    for (const doc of parseAllDocuments(m[1] as string)) {
      const object = doc.toJS() as Record<string, any> | null;
      if (object?.kind === 'FaultPolicy') found.push({ where: `${file}:${line}`, object });
    }
  }
  return found;
}

t.test('the CRD in manifests/ is the generated one', async (t) => {
  const installed = parseAllDocuments(readFileSync(new URL('../../manifests/faultline.yaml', import.meta.url), 'utf8')).map((d) => d.toJS()).find((o) => o?.kind === 'CustomResourceDefinition');
  t.same(installed, crd, 'manifests/faultline.yaml holds exactly what the zod schema generates (npm run manifests)');
  t.match(crd, { metadata: { name: 'faultpolicies.faultline.dev' }, spec: { scope: 'Namespaced', names: { shortNames: ['fp'] }, versions: [{ name: 'v1alpha1', subresources: { status: {} } }] } });
  t.same(crd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name), ['Mode', 'Selected', 'Applied', 'Age']);
});

t.test('the schema is structural: a type on every node, no $ref, no additionalProperties: false', async (t) => {
  const problems: string[] = [];
  const walk = (node: Record<string, any>, path: string) => {
    if (!node.type && !node['x-kubernetes-int-or-string']) problems.push(`${path}: no type`);
    for (const key of ['$ref', 'oneOf', 'allOf', 'not', 'default', 'const']) if (key in node && !(key === 'default' && path === '.spec.mode')) problems.push(`${path}: ${key}`);
    if (node.additionalProperties === false) problems.push(`${path}: additionalProperties false`);
    if (node.properties && node.additionalProperties) problems.push(`${path}: properties and additionalProperties`);
    for (const [k, v] of Object.entries(node.properties ?? {})) walk(v as Record<string, any>, `${path}.${k}`);
    if (node.items) walk(node.items, `${path}[]`);
    if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`);
  };
  walk(schema as Record<string, any>, '');
  t.same(problems, []);
  const fault = schema.properties as any;
  t.equal(fault.spec.properties.rules.items.properties.faults.items['x-kubernetes-preserve-unknown-fields'], true, "a fault's own fields are kept as written (the sidecar checks them)");
  t.ok(fault.spec.properties.rules.items.properties.faults.items.properties.type.enum.includes('latency'), 'fault types are an enum, from the registry');
  t.same(fault.spec.properties.listeners.items.properties.idleTimeout, { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] }, 'durations: int-or-string');
  t.throws(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'boolean' }] }), /no structural schema/);
  t.throws(() => toStructural({ $ref: '#/x' }), /no structural schema for \$ref/);
});

t.test('the schema accepts every FaultPolicy example of the README and docs/faultpolicy.md, and the sidecar takes them', async (t) => {
  const found = [...examples('README.md'), ...examples('docs/faultpolicy.md')];
  t.ok(found.length >= 4, `${found.length} examples found`);
  for (const { where, object } of found) {
    t.same(validate(object), [], `${where}: ${object.metadata?.name} is accepted by the API server`);
    const checked = checkFaultPolicy({ ...object, metadata: { name: object.metadata?.name ?? 'x' } } as never, { kernelFaults: true, knownListeners: ['redis', 'up', 'db', 'api'] });
    t.ok(checked.ok, `${where}: and valid to the sidecar${checked.ok ? '' : `: ${checked.problems.join('; ')}`}`);
  }
});

t.test('the schema refuses what it can see: each invalid object gets a line naming the field', async (t) => {
  const base = (spec: Record<string, unknown>) => ({ apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name: 'x' }, spec });
  const rule = (extra: Record<string, unknown> = {}, fault: Record<string, unknown> = { type: 'latency', latency: '10ms' }) => ({ rules: [{ name: 'r', faults: [fault], ...extra }] });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown fault type', rule({}, { type: 'latncy' }), /spec\.rules\[0\]\.faults\[0\]\.type: must be equal to one of the allowed values/],
    ['a probability over 1', rule({}, { type: 'reset', probability: 1.5 }), /spec\.rules\[0\]\.faults\[0\]\.probability: must be <= 1/],
    ['a stream that is none', rule({}, { type: 'latency', latency: 1, stream: 'sideways' }), /faults\[0\]\.stream: must be equal to one of the allowed values/],
    ['a rule without a name', { rules: [{ faults: [{ type: 'refuse' }] }] }, /spec\.rules\[0\]: must have required property 'name'/],
    ['a bad rule name', { rules: [{ name: '-bad-', faults: [{ type: 'refuse' }] }] }, /spec\.rules\[0\]\.name: must match pattern/],
    ['an unknown spec field', { ...rule(), rulez: [] }, /spec: unknown field "rulez"/],
    ['an unknown match field', rule({ match: { listner: 'up' } }), /spec\.rules\[0\]\.match: unknown field "listner"/],
    ['a port out of range', rule({ match: { ports: [70000] } }), /spec\.rules\[0\]\.match\.ports\[0\]: must be <= 65535/],
    ['an unknown protocol', rule({ match: { protocol: 'ftp' } }), /match\.protocol: must be equal to one of the allowed values/],
    ['an unknown mode', { ...rule(), mode: 'most' }, /spec\.mode: must be equal to one of the allowed values \["all","one","fixed","fixed-percent"\]/],
    ['a negative value', { ...rule(), mode: 'fixed', value: -1 }, /spec\.value: must be >= 0/],
    ['a bad selector operator', { ...rule(), selector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['x'] }] } }, /matchExpressions\[0\]\.operator: must be equal to one of the allowed values/],
    ['expiresAt that is no time', { ...rule(), expiresAt: 'tomorrow' }, /spec\.expiresAt: must match format "date-time"/],
    ['enabled as a string', { ...rule(), enabled: 'yes' }, /spec\.enabled: must be boolean/],
    ['a listener without upstream', { listeners: [{ name: 'l', listen: '127.0.0.1:1' }] }, /spec\.listeners\[0\]: must have required property 'upstream'/],
  ];
  for (const [what, spec, expected] of cases) {
    const problems = validate(base(spec));
    t.match(problems.join('\n'), expected, `${what}: refused`);
  }
  t.match(validate({ apiVersion: 'faultline.dev/v1alpha1', kind: 'FaultPolicy', metadata: { name: 'x' } }).join(), /must have required property 'spec'/);
  // A rule without faults (and no tls: terminate): a CEL rule for the API server, and the sidecar's own check.
  t.match((schema as any).properties.spec.properties.rules.items['x-kubernetes-validations'], [{ rule: /has\(self\.tls\) && self\.tls == 'terminate'\) \|\| \(has\(self\.faults\) && size\(self\.faults\) > 0\)/ }]);
  t.match(checkFaultPolicy(base({ rules: [{ name: 'r', faults: [] }] }) as never), { ok: false, problems: [/spec\.rules\[0\]\.faults: a rule needs at least one fault \(or tls: terminate\)/] }, 'a rule without faults: refused by the sidecar');
  t.same(validate(base({ rules: [{ name: 'r', tls: 'terminate', match: { sni: 'api.example.com' } }] })), [], 'a rule that only terminates TLS passes');
  // What the schema cannot see (a fault type's own fields, the value's range per mode): the sidecar refuses it and says why.
  const own = base(rule({}, { type: 'latency', latency: 'soon' }));
  t.same(validate(own), [], "a fault's own field passes the API server");
  t.match(checkFaultPolicy(own as never), { ok: false, problems: [/spec\.rules\[0\]\.faults\[0\]\.latency: invalid duration "soon"/] }, '...and is refused by the sidecar');
  t.match(checkFaultPolicy(base({ ...rule(), mode: 'fixed-percent', value: 130 }) as never), { ok: false, problems: ['spec.value: a percentage is 0-100'] });
  t.match(checkFaultPolicy(base({ ...rule(), mode: 'fixed' }) as never), { ok: false, problems: ['spec.value: required with mode fixed'] });
  t.match(checkFaultPolicy(base({ ...rule(), mode: 'one', value: 2 }) as never), { ok: false, problems: ['spec.value: does not apply to mode one'] });
  t.match(checkFaultPolicy(base({ ...rule(), selector: { matchExpressions: [{ key: 'a', operator: 'In' }, { key: 'b', operator: 'Exists', values: ['x'] }] } }) as never), { ok: false, problems: [/In needs at least one value/, /Exists takes no values/] });
  t.match(checkFaultPolicy(base({ ...rule(), mode: 'sometimes' }) as never), { ok: false, problems: [/^spec\.mode: /] });
});

t.test('faultline validate takes FaultPolicy resources too: their selection checked, problems at FILE:LINE:COL', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: g, namespace: shop}\nspec:\n  selector: {matchLabels: {app: shop}}\n  mode: fixed\n  value: 2\n  rules: [{name: r, faults: [{type: refuse}]}]\n');
  writeFileSync(bad, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: b}\nspec:\n  mode: fixed-percent\n  value: 130\n  rules: [{name: r, faults: [{type: latency, latency: soon}]}]\n');
  const ok = await runCli(['validate', good]);
  t.equal(ok.code, 0, ok.stdout);
  t.match(ok.stdout, /good\.yaml: ok/);
  const refused = await runCli(['validate', bad]);
  t.equal(refused.code, 1);
  t.match(refused.stdout, /bad\.yaml:7:\d+: spec\.rules\[0\]\.faults\[0\]\.latency: invalid duration "soon"/);
  writeFileSync(bad, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: b}\nspec:\n  mode: fixed-percent\n  value: 130\n  rules: []\n');
  const range = await runCli(['validate', bad]);
  t.match(range.stdout, /bad\.yaml:6:10: spec\.value: a percentage is 0-100/);
});
