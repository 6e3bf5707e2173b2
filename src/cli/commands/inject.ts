import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
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

/** Injects one object; an invalid annotation is reported with the object it is on. */
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
 * (like `istioctl kube-inject`); other documents pass through unchanged. Lists (kind: List)
 * are handled item by item. Warnings (hostNetwork pods, unknown annotations) go to `warnings`.
 */
export function injectYaml(text: string, image: string, warnings: string[] = []): string {
  const docs = parseAllDocuments(text);
  const out: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new InputError(`invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
    const object = doc.toJS() as KubeObject | null;
    if (object === null || typeof object !== 'object') continue;
    if (object.kind === 'List' && Array.isArray(object.items)) {
      const items = (object.items as KubeObject[]).map((item) => injectOne(item, image, warnings));
      // An untouched List keeps its text too.
      if (items.some((i) => i.injected)) out.push(stringify({ ...object, items: items.map((i) => i.object) }, { lineWidth: 0 }));
      else out.push(doc.toString({ lineWidth: 0 }).replace(/^---[ \t]*\n/, ''));
      continue;
    }
    const { object: result, injected } = injectOne(object, image, warnings);
    // Untouched documents keep their text (comments included), minus their own `---` marker.
    out.push(injected ? stringify(result, { lineWidth: 0 }) : doc.toString({ lineWidth: 0 }).replace(/^---[ \t]*\n/, ''));
  }
  return out.join('---\n');
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
      for (const warning of warnings) output.stderr(`faultline: warning: ${warning}\n`);
      output.stdout(text);
    });
}
