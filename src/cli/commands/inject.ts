import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import { UsageError } from '../../errors.js';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { injectObject, type KubeObject } from '../../kubernetes/inject.js';

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Adds the sidecar to every pod template in a multi-document YAML stream that asks for it
 * (like `istioctl kube-inject`); other documents pass through unchanged. Lists (kind: List)
 * are handled item by item.
 */
export function injectYaml(text: string, image: string): string {
  const docs = parseAllDocuments(text);
  const out: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new UsageError(`invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
    const object = doc.toJS() as KubeObject | null;
    if (object === null || typeof object !== 'object') continue;
    if (object.kind === 'List' && Array.isArray(object.items)) {
      out.push(stringify({ ...object, items: (object.items as KubeObject[]).map((item) => injectObject(item, { image }).object) }, { lineWidth: 0 }));
      continue;
    }
    const { object: result, injected } = injectObject(object, { image });
    // Untouched documents keep their text (comments included), minus their own `---` marker.
    out.push(injected ? stringify(result, { lineWidth: 0 }) : doc.toString({ lineWidth: 0 }).replace(/^---[ \t]*\n/, ''));
  }
  return out.join('---\n');
}

export function register(program: Command): void {
  program
    .command('inject')
    .description('add the sidecar to every pod template that asks for it (faultline.dev/inject: "true"); prints the result')
    .option('-f, --filename <file>', 'Kubernetes YAML (multi-document), or - for standard input', '-')
    .option('--image <image>', 'the faultline image', DEFAULT_IMAGE)
    .action(async (flags: { filename: string; image: string }) => {
      process.stdout.write(injectYaml(await readInput(flags.filename), flags.image));
    });
}
