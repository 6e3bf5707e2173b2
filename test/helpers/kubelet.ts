import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A ConfigMap volume laid out the way the kubelet writes it: the data lives in a timestamped
 * directory, `..data` links to it, and each key links through `..data`. An update writes a new
 * directory and renames a fresh `..data` link over the old one (one atomic step).
 */
export class ConfigMapVolume {
  private generation = 0;
  private current: string | undefined;

  constructor(private readonly dir: string, private readonly key = 'policy.yaml') {}

  /** The path the sidecar reads: DIR/policy.yaml. */
  get file(): string {
    return join(this.dir, this.key);
  }

  write(text: string): void {
    const name = `..2026_11_22_12_00_00.${++this.generation}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, this.key), text);
    symlinkSync(name, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true, force: true });
    else symlinkSync(join('..data', this.key), this.file);
    this.current = name;
  }
}
