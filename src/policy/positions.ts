import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { PolicyProblem } from '../errors.js';

/** A path inside a YAML document: keys and sequence indexes. */
export type Path = (string | number)[];

/** Records a problem at `path` (or at the key `key` inside it). */
export type Report = (path: Path, message: string, key?: string, code?: string) => void;

/** A YAML document parsed with positions, and the problems found in it so far. */
export interface PositionedDocument {
  /** The document as plain JS; undefined when it is empty or the YAML is malformed. */
  raw: unknown;
  problems: PolicyProblem[];
  /** Records a problem with its line and column, its path written in front of the message. */
  report: Report;
  /** The problems, in file order. */
  sorted(): PolicyProblem[];
}

/**
 * Parses YAML keeping every node's position, so that problems found later (by zod, by
 * cross-field checks) are reported as FILE:LINE:COL of the field they concern. YAML syntax
 * errors are problems of their own.
 */
export function parsePositioned(text: string): PositionedDocument {
  const lineCounter = new LineCounter();
  const yamlDoc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: PolicyProblem[] = [];
  const report: Report = (path, message, key, code) => {
    const { line, col } = lineCounter.linePos(locate(yamlDoc, path, key));
    const field = key === undefined ? path : [...path, key];
    problems.push({ path, message: `${describe(path, key)}${message}`, line, col, field, detail: message, ...(code ? { code } : {}) });
  };
  for (const error of yamlDoc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    problems.push({ path: [], message: `YAML: ${error.message.split('\n')[0]}`, line, col });
  }
  const raw: unknown = problems.length > 0 ? undefined : (yamlDoc.toJS() ?? undefined);
  return { raw, problems, report, sorted: () => [...problems].sort((a, b) => a.line - b.line || a.col - b.col) };
}

/**
 * parsePositioned for a document that must be there: YAML errors, or an empty document (`empty`
 * says what was expected), throw `raise(problems)` at once.
 */
export function parseRequired(text: string, empty: string, raise: (problems: PolicyProblem[]) => Error): PositionedDocument {
  const positioned = parsePositioned(text);
  if (positioned.problems.length === 0 && positioned.raw === undefined) positioned.report([], empty);
  if (positioned.problems.length > 0) throw raise(positioned.sorted());
  return positioned;
}

/** Reports every issue of a zod error; `prefix` is where `input` sits in the document. */
export function reportZod(error: z.ZodError, prefix: Path, input: unknown, at: Report): void {
  for (const issue of error.issues) {
    const path = [...prefix, ...(issue.path as Path)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) at(path, `unknown field "${key}"`, key);
    } else if (valueAt(input, issue.path as Path) === undefined && issue.path.length > 0) {
      at(path, 'required field is missing');
    } else {
      at(path, issue.message);
    }
  }
}

function valueAt(input: unknown, path: Path): unknown {
  let value = input;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;
  return value;
}

/** "spec.rules[0].faults[1].latency: " */
function describe(path: Path, key?: string): string {
  const full = key === undefined ? path : [...path, key];
  return full.length === 0 ? '' : `${fieldText(full)}: `;
}

/** A path as text: `spec.rules[0].faults[1].latency`. */
export function fieldText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Offset of the node at `path` (or of `key` inside it), else of its deepest existing parent. */
function locate(doc: Document, path: Path, key?: string): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : (doc.getIn(path.slice(0, depth), true) as Node | undefined);
    if (!node || typeof node !== 'object' || !('range' in node) || !node.range) continue;
    if (depth === path.length && key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (keyRange) return keyRange[0];
    }
    if (depth < path.length && isMap(node)) {
      // The field is missing or not a node: point at the key that should hold it, if present.
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === path[depth]);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
    return node.range[0];
  }
  return 0;
}

/** Line and column of a field in YAML text, for errors found after validation (bind failures). */
export function locateField(text: string, path: Path): { line: number; col: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  return lineCounter.linePos(locate(doc, path));
}
