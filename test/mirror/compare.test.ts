import t from 'tap';
import { ByteBudget, BodyCopy } from '../../src/mirror/body.js';
import { compareSides, type CompareOptions, type Side } from '../../src/mirror/compare.js';
import { jsonDifferences, jsonPathProblem, pointerToPath, pointerToPattern } from '../../src/mirror/json-diff.js';

const options = (o: Partial<CompareOptions> = {}): CompareOptions => ({ status: true, headers: [], body: 'json', ignore: [], tolerance: undefined, noise: 'off', ...o });

function side(body: string, o: { status?: number; headers?: Record<string, string>; trailers?: Record<string, string>; keep?: number } = {}): Side {
  const copy = new BodyCopy(o.keep ?? 1024, new ByteBudget(1 << 20));
  copy.update(Buffer.from(body));
  return { status: o.status ?? 200, headers: o.headers ?? {}, trailers: o.trailers, body: copy.finish() };
}

t.test('json differences: document order, both values, absent as undefined', async (t) => {
  const d = jsonDifferences({ a: 1, b: [1, 2, 3], c: { x: 'y' } }, { a: 2, b: [1, 2], c: { x: 'y', z: true } }, []);
  t.same(d.map((x) => [x.pointer, x.primary, x.shadow]), [
    ['/a', 1, 2],
    ['/b/2', 3, undefined],
    ['/c/z', undefined, true],
  ]);
  t.same(jsonDifferences([1], { 0: 1 }, []).map((x) => x.pointer), [''], 'an array and an object differ at the root');
  t.same(jsonDifferences(1, 2, []).length, 1, 'scalars at the root');
  t.same(jsonDifferences('x', 'x', []), []);
});

t.test('ignore: JSONPaths on either side, with everything under them', async (t) => {
  const a = { id: 1, ts: 5, items: [{ at: 1, k: 1 }, { at: 2, k: 2 }], meta: { trace: { span: 1 } } };
  const b = { id: 2, ts: 6, items: [{ at: 3, k: 1 }, { at: 4, k: 3 }], meta: { trace: { span: 2, extra: 1 } } };
  t.same(jsonDifferences(a, b, ['$.ts', '$..id', '$.items[*].at', '$.meta.trace']).map((x) => x.pointer), ['/items/1/k']);
  t.same(jsonDifferences({ a: 1 }, { a: 1, only: 'shadow' }, ['$.only']), [], 'a field only the shadow has is ignored too');
  t.same(jsonDifferences({ a: 1 }, { a: 2 }, ['$']), [], '$ ignores everything');
});

t.test('tolerance: absolute or relative', async (t) => {
  t.same(jsonDifferences({ n: 1.0 }, { n: 1.004 }, [], { absolute: 0.01 }), []);
  t.equal(jsonDifferences({ n: 1.0 }, { n: 1.02 }, [], { absolute: 0.01 }).length, 1);
  t.same(jsonDifferences({ n: 1000 }, { n: 1009 }, [], { relative: 0.01 }), []);
  t.equal(jsonDifferences({ n: 1000 }, { n: 1011 }, [], { relative: 0.01 }).length, 1);
  t.equal(jsonDifferences({ n: '1' }, { n: 1 }, [], { absolute: 5 }).length, 1, 'a string is not a number');
  t.same(jsonDifferences(1, 1.5, [], { absolute: 1 }), [], 'at the root too');
});

t.test('paths: pointers shown as JSONPath, generalised for noise', async (t) => {
  t.equal(pointerToPath('/items/3/id'), '$.items[3].id');
  t.equal(pointerToPath(''), '$');
  t.equal(pointerToPath('/a b/it~1s'), "$['a b']['it/s']");
  t.equal(pointerToPath("/it's"), `$["it's"]`);
  t.equal(pointerToPattern("/a b/it's"), "$['a b'][*]", 'a name jsonpath-plus cannot quote is matched as *');
  t.equal(pointerToPattern('/items/3/id'), '$.items[*].id');
  t.same(jsonDifferences({ 'a b': { "it's": 1 } }, { 'a b': { "it's": 2 } }, [pointerToPattern("/a b/it's")]), [], 'a generated path selects what it came from');
});

t.test('ignore paths are checked when the policy loads', async (t) => {
  t.equal(jsonPathProblem('$.a.b'), undefined);
  t.equal(jsonPathProblem("$['x(y)']"), undefined, 'parentheses inside quotes are names');
  t.match(jsonPathProblem('a.b'), /must start with "\$"/);
  t.match(jsonPathProblem('$..book[?(@.price<10)]'), /not allowed/);
  t.match(jsonPathProblem('$.a[(@.length-1)]'), /not allowed/);
});

t.test('compareSides: status, headers, trailers, bodies', async (t) => {
  const a = side('{"a":1}', { headers: { 'x-v': '1', date: 'one' } });
  t.same(compareSides(a, side('{"a":1}', { headers: { 'x-v': '1', date: 'two' } }), options({ headers: ['x-v'] }), false), { differences: [] }, 'unlisted headers are not compared');
  const drift = compareSides(a, side('{"a":2}', { status: 500, headers: { 'x-v': '2' } }), options({ headers: ['x-v'] }), false);
  t.same('differences' in drift && drift.differences.map((d) => [d.kind, d.key, d.where]), [
    ['status', 'status', 'status'],
    ['header', 'header:x-v', 'x-v'],
    ['json', '$.a', '$.a'],
  ]);
  t.same(compareSides(a, side('{"a":2}', { status: 500 }), options({ status: false, body: 'none' }), false), { differences: [] }, 'status: false, body: none');
  const noisy = compareSides(a, side('{"a":2}', { status: 500 }), options(), false, new Set(['status', '$.a']));
  t.same(noisy, { differences: [] }, 'noise keys are left out');
  const text = compareSides(side('abcdef'), side('abcxef'), options(), false);
  t.match(text, { differences: [{ kind: 'body', primary: { bytes: 6, firstDifferingByte: 3 } }] }, 'not JSON: compared exactly, with where they first differ');
  const longer = compareSides(side('abc', { keep: 0 }), side('abcd', { keep: 0 }), options({ body: 'exact' }), false);
  t.match(longer, { differences: [{ kind: 'body', primary: { bytes: 3, firstDifferingByte: 3 }, shadow: { bytes: 4 } }] });
  const over = compareSides(side('{"a":1}', { keep: 2 }), side('{"a":1}'), options(), false);
  t.match(over, { skipped: /maxBodyBytes/ }, 'a json body over its cap is not compared');
});

t.test('compareSides for gRPC: grpc-status and grpc-message from trailers or a trailers-only head, message bytes exactly', async (t) => {
  const ok = side('\0\0\0\0\x02hi', { trailers: { 'grpc-status': '0' } });
  const failed = side('', { headers: { 'grpc-status': '5', 'grpc-message': 'not%20found' } });
  const result = compareSides(ok, failed, options(), true);
  t.match(result, { differences: [{ where: 'grpc-status', primary: '0', shadow: '5' }, { where: 'grpc-message', primary: undefined, shadow: 'not found' }, { kind: 'body' }] });
  t.same(compareSides(ok, side('\0\0\0\0\x02hi', { trailers: { 'grpc-status': '0' } }), options(), true), { differences: [] });
  const listed = compareSides(side('', { trailers: { 'x-t': '1' } }), side('', { trailers: { 'x-t': '2' } }), options({ headers: ['x-t'] }), true);
  t.match(listed, { differences: [{ kind: 'trailer', where: 'x-t' }] }, 'listed headers are looked for in trailers too');
});

t.test('BodyCopy: digest whatever the size, a copy up to its cap and within the budget', async (t) => {
  const budget = new ByteBudget(10);
  const kept = new BodyCopy(8, budget);
  kept.update(Buffer.from('abcd'));
  t.equal(budget.used, 4);
  kept.update(Buffer.from('efgh'));
  const summary = kept.finish();
  t.equal(summary.kept?.toString(), 'abcdefgh');
  kept.dispose();
  t.equal(budget.used, 0, 'disposed: given back');
  const capped = new BodyCopy(4, budget);
  capped.update(Buffer.from('abcde'));
  t.ok(capped.overCap, 'over its own cap');
  t.equal(budget.used, 0);
  t.match(capped.finish(), { bytes: 5, kept: undefined, over: true });
  const a = new BodyCopy(100, budget);
  a.update(Buffer.alloc(8));
  const b = new BodyCopy(100, budget);
  b.update(Buffer.alloc(8));
  t.ok(b.overCap, 'over the shared budget');
  t.equal(b.length, 8);
  a.dispose();
  const big = new BodyCopy(0, budget);
  for (let i = 0; i < 100; i++) big.update(Buffer.alloc(2048, i));
  const s = big.finish();
  t.equal(s.bytes, 204800);
  t.equal(s.prefix.length, 1024, 'the first KiB for the drift log');
  t.equal(s.kept, undefined, 'nothing kept for an exact comparison');
  t.equal(budget.used, 0);
});
