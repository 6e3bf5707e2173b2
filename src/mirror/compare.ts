import type { BodySummary } from './body.js';
import { jsonDifferences, pointerToPath, pointerToPattern, type Tolerance } from './json-diff.js';

/** What a mirror fault compares (`compare:`), after validation. */
export interface CompareOptions {
  /** The status (gRPC: grpc-status and grpc-message too). */
  readonly status: boolean;
  /** Lower-case header names compared (also looked for in trailers). */
  readonly headers: readonly string[];
  readonly body: 'exact' | 'json' | 'none';
  /** JSONPaths left out of a json comparison. */
  readonly ignore: readonly string[];
  readonly tolerance: Tolerance | undefined;
  readonly noise: 'learn' | 'off';
}

/** One answer to the same request: the primary's, the shadow's, or (noise learning) the primary's second. */
export interface Side {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly trailers: Readonly<Record<string, string>> | undefined;
  readonly body: BodySummary;
}

/**
 * One difference. `key` names what differs for noise learning: "status", "header:NAME",
 * "trailer:NAME", "body", or a JSONPath with list positions as [*] ("$.items[*].id").
 */
export interface Difference {
  readonly kind: 'status' | 'header' | 'trailer' | 'body' | 'json';
  readonly key: string;
  /** Where, as shown: a header name, a JSONPath ("$.items[3].id"), "body". */
  readonly where: string;
  readonly primary: unknown;
  readonly shadow: unknown;
}

export type Comparison = { skipped: string } | { differences: Difference[] };

/** gRPC status and message: from the trailers, or the headers of a trailers-only answer; grpc-message percent-decoded. */
function grpcField(side: Side, name: string): string | undefined {
  const value = side.trailers?.[name] ?? side.headers[name];
  if (name !== 'grpc-message' || value === undefined) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function bodyDifference(a: BodySummary, b: BodySummary): Difference[] {
  if (a.bytes === b.bytes && a.sha256 === b.sha256) return [];
  let first = 0;
  while (first < a.prefix.length && first < b.prefix.length && a.prefix[first] === b.prefix[first]) first++;
  const within = first < Math.min(a.prefix.length, b.prefix.length) || a.bytes !== b.bytes ? first : null;
  return [{ kind: 'body', key: 'body', where: 'body', primary: { bytes: a.bytes, firstDifferingByte: within }, shadow: { bytes: b.bytes, firstDifferingByte: within } }];
}

function parsed(body: BodySummary): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse((body.kept as Buffer).toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Compares two answers to one request as `options` say, leaving out what `noise` names
 * (learned keys and JSONPaths). gRPC answers are compared by status, grpc-status, grpc-message,
 * the listed headers and trailers, and their message bytes (exactly). A json comparison needs
 * both bodies whole: over `maxBodyBytes` it is skipped; a body that is not JSON on either side
 * is compared exactly.
 */
export function compareSides(primary: Side, shadow: Side, options: CompareOptions, grpc: boolean, noise: ReadonlySet<string> = new Set()): Comparison {
  const out: Difference[] = [];
  const push = (d: Difference) => noise.has(d.key) || out.push(d);
  if (options.status) {
    if (primary.status !== shadow.status) push({ kind: 'status', key: 'status', where: 'status', primary: primary.status, shadow: shadow.status });
    if (grpc) {
      for (const name of ['grpc-status', 'grpc-message']) {
        const a = grpcField(primary, name);
        const b = grpcField(shadow, name);
        if (a !== b) push({ kind: 'trailer', key: `trailer:${name}`, where: name, primary: a, shadow: b });
      }
    }
  }
  for (const name of options.headers) {
    const a = primary.headers[name];
    const b = shadow.headers[name];
    if (a !== b) push({ kind: 'header', key: `header:${name}`, where: name, primary: a, shadow: b });
    const ta = primary.trailers?.[name];
    const tb = shadow.trailers?.[name];
    if (ta !== tb) push({ kind: 'trailer', key: `trailer:${name}`, where: name, primary: ta, shadow: tb });
  }
  if (options.body === 'none') return { differences: out };
  if (options.body === 'exact' || grpc) {
    bodyDifference(primary.body, shadow.body).forEach(push);
    return { differences: out };
  }
  if (primary.body.over || shadow.body.over) return { skipped: 'a body is over maxBodyBytes (or the mirror memory budget): no json comparison' };
  const a = parsed(primary.body);
  const b = parsed(shadow.body);
  if (!a.ok || !b.ok) {
    bodyDifference(primary.body, shadow.body).forEach(push);
    return { differences: out };
  }
  const paths = [...options.ignore, ...[...noise].filter((k) => k.startsWith('$'))];
  for (const d of jsonDifferences(a.value, b.value, paths, options.tolerance)) {
    push({ kind: 'json', key: pointerToPattern(d.pointer), where: pointerToPath(d.pointer), primary: d.primary, shadow: d.shadow });
  }
  return { differences: out };
}
