import t from 'tap';
import { stringify } from 'yaml';
import { PolicyError } from '../../src/errors.js';
import { seededRandom } from '../../src/experiments/random.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { locateField } from '../../src/policy/positions.js';

/** A valid policy touching every kind of value a mutation below breaks. */
function basePolicy(): Record<string, unknown> {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'FaultPolicy',
    metadata: { name: 'base' },
    spec: {
      listeners: [
        { name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:5432' },
        { name: 'dns', listen: '127.0.0.1:0', upstream: '127.0.0.1:53', protocol: 'udp', idleTimeout: '30s' },
      ],
      rules: [
        {
          name: 'slow',
          match: { destinations: ['10.0.0.0/8', 'db.default.svc:5432'], sources: ['fd00::/8'], ports: [5432] },
          faults: [
            { type: 'latency', latency: '100ms', jitter: '10ms', after: '1s', for: '10m', probability: 0.5 },
            { type: 'slicer', averageSize: 64, sizeVariation: 8, delay: '1ms' },
          ],
        },
        { name: 'web', match: { protocol: 'http', http: { paths: ['/api/*'] } }, faults: [{ type: 'http_abort', status: 503 }] },
      ],
    },
  };
}

const compile = (doc: unknown) => compilePolicy(stringify(doc), 'mutated.yaml');

/** Paths (into basePolicy) of each kind of value, and values each must refuse. */
const KINDS: { paths: (string | number)[][]; bad: unknown[] }[] = [
  {
    paths: [['spec', 'rules', 0, 'match', 'destinations', 0], ['spec', 'rules', 0, 'match', 'sources', 0]],
    bad: ['10.0.0.0/', '300.1.1.1/8', '1.2.3.4/0x8', '10.0.0.0/1e1', '/8', '*/8', '10.0.0.0/33', 'fd00::/129', '10.0.0.1:0', '10.0.0.1:70000', 'db:99999', '300.1.1.1', 'a b', '', '1.2.3.4/-1', '10.0.0.0/8/8', 7],
  },
  { paths: [['spec', 'rules', 0, 'match', 'ports', 0]], bad: [0, 70000, 99999, -1, 1.5, '80', null] },
  { paths: [['spec', 'listeners', 0, 'upstream'], ['spec', 'listeners', 1, 'upstream']], bad: ['127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1', ':80', 'db:', '[10.0.0.1]:80', 5432] },
  { paths: [['spec', 'listeners', 0, 'listen']], bad: ['127.0.0.1:70000', '127.0.0.1', 'x y:80', 0] },
  {
    paths: [['spec', 'rules', 0, 'faults', 0, 'latency'], ['spec', 'rules', 0, 'faults', 0, 'after'], ['spec', 'rules', 0, 'faults', 0, 'for'], ['spec', 'rules', 0, 'faults', 1, 'delay'], ['spec', 'listeners', 1, 'idleTimeout']],
    bad: [-5, '-5ms', 'abc', '5x', '5 s s', 2 ** 31, '600h', '1e3', true, null, [1]],
  },
  { paths: [['spec', 'rules', 0, 'faults', 0, 'probability']], bad: [1.5, -0.1, '0.5', true] },
  { paths: [['spec', 'rules', 0, 'faults', 1, 'averageSize']], bad: [0, -1, '64 apples', '1ZB'] },
  { paths: [['spec', 'rules', 1, 'faults', 0, 'status']], bad: [99, 600, '503', 503.5] },
  { paths: [['spec', 'rules', 0, 'name'], ['metadata', 'name'], ['spec', 'listeners', 0, 'name']], bad: ['', '-x', 'a b', 'x'.repeat(64), 3] },
];

/** Misspellings of real keys: every object is strict, so each must be refused as an unknown field. */
const RENAMES: { path: (string | number)[]; key: string; typo: string }[] = [
  { path: ['spec', 'rules', 0, 'faults', 1], key: 'averageSize', typo: 'avergeSize' },
  { path: ['spec', 'rules', 0, 'faults', 1], key: 'sizeVariation', typo: 'sizevariation' },
  { path: ['spec', 'rules', 0, 'faults', 1], key: 'delay', typo: 'dealy' },
  { path: ['spec', 'rules', 0, 'faults', 0], key: 'jitter', typo: 'jiter' },
  { path: ['spec', 'rules', 0, 'faults', 0], key: 'probability', typo: 'probabilty' },
  { path: ['spec', 'rules', 0, 'match'], key: 'destinations', typo: 'destination' },
  { path: ['spec', 'rules', 0], key: 'match', typo: 'matches' },
  { path: ['spec', 'listeners', 0], key: 'upstream', typo: 'upsteam' },
  { path: ['spec', 'listeners', 1], key: 'idleTimeout', typo: 'idle_timeout' },
  { path: ['spec', 'rules', 1, 'match', 'http'], key: 'paths', typo: 'path' },
];

function at(doc: unknown, path: (string | number)[]): Record<string | number, unknown> {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], doc) as Record<string | number, unknown>;
}

t.test('the base policy is valid (so that each mutation alone makes it invalid)', async (t) => {
  t.doesNotThrow(() => compile(basePolicy()));
});

t.test('1,000 seeded mutations: none accepted, each refused at the mutated field', async (t) => {
  const random = seededRandom(20);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const wrong: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const doc = basePolicy();
    let what: string;
    let field: (string | number)[];
    if (random() < 0.15) {
      const { path, key, typo } = pick(RENAMES);
      const node = at(doc, path);
      node[typo] = node[key];
      delete node[key];
      field = [...path, typo];
      what = `${path.join('.')}: ${key} → ${typo}`;
    } else {
      const kind = pick(KINDS);
      const path = pick(kind.paths);
      const value = pick(kind.bad);
      at(doc, path.slice(0, -1))[path.at(-1) as string | number] = value;
      field = path;
      what = `${path.join('.')} = ${JSON.stringify(value)}`;
    }
    const text = stringify(doc);
    try {
      compilePolicy(text, 'mutated.yaml');
      wrong.push(`#${i} accepted: ${what}`);
    } catch (err) {
      if (!(err instanceof PolicyError)) {
        wrong.push(`#${i} ${what}: not a PolicyError: ${String(err)}`);
        continue;
      }
      const { line } = locateField(text, field);
      // An unknown key is reported at the key (its line may be above its value's).
      const problem = err.problems.find((p) => (p.line === line && field.join('.').startsWith(p.path.join('.'))) || p.field?.join('.') === field.join('.'));
      if (!problem) wrong.push(`#${i} ${what}: not reported at line ${line}: ${err.lines().join(' | ')}`);
    }
  }
  t.same(wrong, [], 'every mutated policy refused, at the mutated line');
});

t.test('each value of the probe is refused with FILE:LINE:COL and a message saying why', async (t) => {
  const refused = (destination: string) => {
    const doc = basePolicy();
    at(doc, ['spec', 'rules', 0, 'match', 'destinations'])[0] = destination;
    try {
      compile(doc);
    } catch (err) {
      return (err as PolicyError).lines().join('\n');
    }
    return 'accepted';
  };
  t.match(refused('10.0.0.0/'), /^mutated\.yaml:\d+:\d+: spec\.rules\[0\]\.match\.destinations\[0\]: "10\.0\.0\.0\/": a CIDR's prefix length is a decimal number from 0 to 32/);
  t.match(refused('10.0.0.0/33'), /: "10\.0\.0\.0\/33": prefix length \/33 is out of range for IPv4 \(0-32\)$/);
  t.match(refused('fd00::/200'), /prefix length \/200 is out of range for IPv6 \(0-128\)$/);
  t.match(refused('300.1.1.1/8'), /"300\.1\.1\.1" is not an IP address/);
  t.match(refused('10.0.0.1:70000'), /ports are 1-65535/);
  t.notMatch(refused('10.0.0.0/33'), /RangeError|:1:1:/, 'not a RangeError at 1:1');
  const upstream = basePolicy();
  at(upstream, ['spec', 'listeners', 0]).upstream = '127.0.0.1:0';
  t.throws(() => compile(upstream), { message: /spec\.listeners\[0\]\.upstream: an upstream port is 1-65535/ });
});
