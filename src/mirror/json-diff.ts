import fastJsonPatch from 'fast-json-patch';
import { JSONPath } from 'jsonpath-plus';

/** Numbers that differ by at most this much are equal: `absolute`, or `relative` to the larger of the two. */
export type Tolerance = { absolute: number } | { relative: number };

/** One place two JSON documents differ: a JSON pointer, and the value on each side (undefined: absent). */
export interface JsonDifference {
  readonly pointer: string;
  readonly primary: unknown;
  readonly shadow: unknown;
}

/**
 * Checks a JSONPath for `ignore` lists: it must start with `$` and parse; filter and script
 * expressions (`?()`, `()`) are refused, since they would run code. Returns a problem, or undefined.
 */
export function jsonPathProblem(path: string): string | undefined {
  if (!path.startsWith('$')) return `JSONPath must start with "$", e.g. "$.timestamp" or "$..id"`;
  if (/[?(]/.test(path.replace(/'[^']*'|"[^"]*"/g, ''))) return 'filter and script expressions are not allowed in ignore paths';
  try {
    JSONPath({ path, json: {}, resultType: 'pointer', eval: false, wrap: true });
  } catch (err) {
    return `invalid JSONPath: ${(err as Error).message}`;
  }
  return undefined;
}

/** The JSON pointers `paths` select in `doc` (jsonpath-plus, no script evaluation). */
function selected(doc: unknown, paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  if (doc === null || typeof doc !== 'object') return out;
  for (const path of paths) {
    for (const pointer of JSONPath({ path, json: doc, resultType: 'pointer', eval: false, wrap: true }) as string[]) out.add(pointer === '/' ? '' : pointer);
  }
  return out;
}

/** Whether `pointer` or one of its ancestors is in `set`. */
function covered(pointer: string, set: Set<string>): boolean {
  if (set.size === 0) return false;
  if (set.has('')) return true;
  for (let i = pointer.indexOf('/', 1); ; i = pointer.indexOf('/', i + 1)) {
    if (set.has(i < 0 ? pointer : pointer.slice(0, i))) return true;
    if (i < 0) return false;
  }
}

function withinTolerance(a: unknown, b: unknown, tolerance: Tolerance | undefined): boolean {
  if (tolerance === undefined || typeof a !== 'number' || typeof b !== 'number') return false;
  const delta = Math.abs(a - b);
  return 'absolute' in tolerance ? delta <= tolerance.absolute : delta <= tolerance.relative * Math.max(Math.abs(a), Math.abs(b));
}

const isContainer = (v: unknown): v is object => v !== null && typeof v === 'object';

/** Document order: segment by segment, array indexes as numbers. */
function byPointer(a: JsonDifference, b: JsonDifference): number {
  const x = a.pointer.split('/');
  const y = b.pointer.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p === q) continue;
    const numeric = /^\d+$/.test(p) && /^\d+$/.test(q);
    return numeric ? Number(p) - Number(q) : p < q ? -1 : 1;
  }
  return x.length - y.length;
}

/**
 * Where two parsed JSON documents differ (fast-json-patch's diff), in document order, leaving
 * out what an `ignore` JSONPath selects on either side (and everything under it) and numbers
 * within `tolerance`.
 */
export function jsonDifferences(primary: unknown, shadow: unknown, ignore: Iterable<string>, tolerance?: Tolerance): JsonDifference[] {
  const paths = [...ignore];
  const skip = new Set([...selected(primary, paths), ...selected(shadow, paths)]);
  if (!isContainer(primary) || !isContainer(shadow) || Array.isArray(primary) !== Array.isArray(shadow)) {
    const same = JSON.stringify(primary) === JSON.stringify(shadow) || withinTolerance(primary, shadow, tolerance);
    return same || skip.has('') ? [] : [{ pointer: '', primary, shadow }];
  }
  const out: JsonDifference[] = [];
  for (const op of fastJsonPatch.compare(primary, shadow)) {
    if (covered(op.path, skip)) continue;
    const before = op.op === 'add' ? undefined : fastJsonPatch.getValueByPointer(primary, op.path);
    const after = op.op === 'remove' ? undefined : (op as { value: unknown }).value;
    if (withinTolerance(before, after, tolerance)) continue;
    out.push({ pointer: op.path, primary: before, shadow: after });
  }
  return out.sort(byPointer);
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function segments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => fastJsonPatch.unescapePathComponent(s));
}

/** A name as a JSONPath member; jsonpath-plus reads no escaped quote, so a name with one is shown quoted and matched as `*`. */
const member = (s: string, pattern: boolean) => (IDENTIFIER.test(s) ? `.${s}` : /['\\]/.test(s) ? (pattern ? '[*]' : `[${JSON.stringify(s)}]`) : `['${s}']`);

/** A JSON pointer as a JSONPath, for people: "/items/3/id" → "$.items[3].id". */
export function pointerToPath(pointer: string): string {
  return `$${segments(pointer).map((s) => (/^\d+$/.test(s) ? `[${s}]` : member(s, false))).join('')}`;
}

/** The JSONPath that ignores a field wherever it sits in a list: "/items/3/id" → "$.items[*].id" (noise learning). */
export function pointerToPattern(pointer: string): string {
  return `$${segments(pointer).map((s) => (/^\d+$/.test(s) ? '[*]' : member(s, true))).join('')}`;
}
