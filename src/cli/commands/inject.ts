import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseAllDocuments, type Document } from 'yaml';
import { AnnotationError, InputError } from '../../errors.js';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { output } from '../output.js';
import { describeObject, injectObject, type InjectResult, type KubeObject } from '../../kubernetes/inject.js';

async function readInput(file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new InputError(`-f ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

type Path = (string | number)[];

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Carries what injection changed from `before` to `after` into `doc` at `path`, key by key, so
 * that every comment and every value it did not change stays as written: maps are walked, an
 * array that only grew gets its new items appended, anything else changed is replaced.
 */
function applyChanges(doc: Document, path: Path, before: unknown, after: unknown): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  if (after === undefined) return void doc.deleteIn(path);
  if (isMap(before) && isMap(after) && doc.getIn(path) !== undefined) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) applyChanges(doc, [...path, key], before[key], after[key]);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && after.length > before.length && before.every((item, i) => JSON.stringify(item) === JSON.stringify(after[i]))) {
    for (const item of after.slice(before.length)) doc.addIn(path, doc.createNode(item));
    return;
  }
  doc.setIn(path, doc.createNode(after));
}

/** Injects one object; an invalid annotation is reported with the object it is on (exit 1). */
function injectOne(object: KubeObject, image: string, warnings: string[]): InjectResult {
  try {
    const result = injectObject(object, { image });
    warnings.push(...result.warnings);
    return result;
  } catch (err) {
    if (err instanceof AnnotationError) throw new InputError(`${describeObject(object)}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Adds the sidecar to every pod template in a multi-document YAML stream that asks for it
 * (like `istioctl kube-inject`). Documents it does not change come out byte for byte (their
 * `---`, comments, quoting and indentation as written, the file's header comment too); a changed
 * document keeps its comments and its other values, edited through the yaml library's Document
 * API. Lists (kind: List) are handled item by item. Warnings (hostNetwork pods, unknown
 * annotations) go to `warnings`, each naming its object.
 */
export function injectYaml(text: string, image: string, warnings: string[] = []): string {
  const docs = parseAllDocuments(text);
  let out = '';
  let from = 0;
  docs.forEach((doc, i) => {
    const to = i === docs.length - 1 ? text.length : doc.range[2];
    const source = text.slice(from, to);
    from = to;
    if (doc.errors.length > 0) throw new InputError(`invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
    const object = doc.toJS() as KubeObject | null;
    if (object === null || typeof object !== 'object') return void (out += source);
    const items: [Path, KubeObject][] = object.kind === 'List' && Array.isArray(object.items) ? (object.items as KubeObject[]).map((item, n) => [['items', n], item]) : [[[], object]];
    let changed = false;
    for (const [path, item] of items) {
      const result = injectOne(item, image, warnings);
      if (!result.injected) continue;
      changed = true;
      applyChanges(doc, path, item, result.object);
    }
    if (!changed) return void (out += source);
    const edited = doc.toString({ lineWidth: 0 });
    // Documents after the first are separated by a marker even when the edit dropped it.
    out += i > 0 && !edited.startsWith('---') ? `---\n${edited}` : edited;
  });
  return out;
}

/** `faultline inject [-f FILE|-]`: prints the YAML with the sidecar added where asked. */
export function register(program: Command): void {
  program
    .command('inject')
    .description('add the sidecar to every pod template that asks for it (faultline.dev/inject: "true"); prints the result')
    .option('-f, --filename <file>', 'Kubernetes YAML (multi-document), or - for standard input', '-')
    .option('--image <image>', 'the faultline image', DEFAULT_IMAGE)
    .action(async (flags: { filename: string; image: string }) => {
      const warnings: string[] = [];
      const text = injectYaml(await readInput(flags.filename), flags.image, warnings);
      for (const warning of warnings) output.stderr(`${warning}\n`);
      output.stdout(text);
    });
}
