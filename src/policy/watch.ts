import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * New text is read again this long after it was first seen, and applied only once two reads
 * agree: an editor or `cat > policy.yaml` writes a file in pieces, and a piece that happens to
 * be valid YAML must not become the policy in force, even for a moment.
 */
const SETTLE_MS = 20;
/** At most this many re-reads of a file still changing; then the latest text is taken. */
const MAX_SETTLE_READS = 25;

/**
 * Watches a policy file for new content, the way Kubernetes updates it: the kubelet swaps the
 * `..data` symlink of the ConfigMap volume atomically, which inotify on the file itself misses.
 * So the file is re-read by path (following the symlinks anew) on every directory event and
 * on a short poll, and `onChange` runs only when the text differs from the last text seen and
 * has stopped changing (SETTLE_MS).
 */
export class PolicyWatcher {
  private last: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private reading = false;
  private again = false;
  private stopped = false;
  private lastError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly onChange: (text: string) => void,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
    private readonly intervalMs = 250,
    /**
     * Called when the file, once there, is gone (seen twice, SETTLE_MS apart); it then counts as
     * new when it comes back. Without it a missing file is an error like any other.
     */
    private readonly onMissing?: () => void,
  ) {}

  /**
   * Starts watching; `initial` is the text already loaded, so it does not count as a change
   * (undefined: the file is not there yet, and its first text will be one).
   */
  start(initial: string | undefined): void {
    this.last = initial;
    try {
      this.watcher = watch(dirname(this.file), { persistent: false }, () => void this.check());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // Polling alone still works (some volumes do not support inotify).
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        let text: string;
        try {
          text = await readFile(this.file, 'utf8');
          for (let reads = 0; text !== this.last && reads < MAX_SETTLE_READS && !this.stopped; reads++) {
            await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
            const again = await readFile(this.file, 'utf8');
            if (again === text) break;
            text = again;
          }
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
          if (this.onMissing && (code === 'ENOENT' || code === 'ENOTDIR')) {
            await this.confirmMissing();
            continue;
          }
          // Reported once per kind of failure, not on every poll; the last good policy stays.
          if (!this.stopped && code !== this.lastError) this.onError(err as NodeJS.ErrnoException);
          this.lastError = code;
          continue;
        }
        this.lastError = undefined;
        if (text !== this.last && !this.stopped) {
          this.last = text;
          this.onChange(text);
        }
      } while (this.again);
    } finally {
      this.reading = false;
    }
  }

  /** A file that was there and is still missing SETTLE_MS later is gone (not caught mid-swap). */
  private async confirmMissing(): Promise<void> {
    if (this.last === undefined || this.stopped) return;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    try {
      await readFile(this.file, 'utf8');
      this.again = true;
      return;
    } catch {
      // still missing
    }
    if (this.stopped) return;
    this.last = undefined;
    this.onMissing?.();
  }
}
