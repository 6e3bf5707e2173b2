import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * Who this pod is, from the Downward API volume the injector mounts into the sidecar (files
 * `name`, `namespace`, `labels`): no API permission is needed for it. The kubelet rewrites
 * `labels` when the pod's labels change, so it is read again at every evaluation.
 */
export class PodInfo {
  private constructor(
    readonly name: string,
    readonly namespace: string,
    private readonly dir: string,
  ) {}

  /** Reads `name` and `namespace` once; a missing file is a UsageError naming it. */
  static async load(dir: string): Promise<PodInfo> {
    const read = async (file: string) => {
      try {
        return (await readFile(join(dir, file), 'utf8')).trim();
      } catch (err) {
        throw new UsageError(`--pod-info ${dir}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); it is the Downward API volume with name, namespace and labels`);
      }
    };
    const name = await read('name');
    const namespace = await read('namespace');
    if (!name || !namespace) throw new UsageError(`--pod-info ${dir}: name and namespace must not be empty`);
    return new PodInfo(name, namespace, dir);
  }

  /** The pod's labels now; an unreadable file is no labels (a selector then matches only if it asks for none). */
  async labels(): Promise<Record<string, string>> {
    try {
      return parseLabels(await readFile(join(this.dir, 'labels'), 'utf8'));
    } catch {
      return {};
    }
  }
}

/** The Downward API's labels file: one `key="value"` per line, the value quoted as Go quotes strings. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^=\s]+)="(.*)"$/.exec(line.trim());
    if (!m) continue;
    try {
      labels[m[1] as string] = JSON.parse(`"${m[2]}"`) as string;
    } catch {
      labels[m[1] as string] = m[2] as string;
    }
  }
  return labels;
}
