import type { ApiClient, WatchEvent } from './api.js';

/** Reconnects wait this long at first, doubling up to MAX_BACKOFF_MS (with jitter); a good list resets it. */
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;
/** The server ends each watch after this long (a new one starts from the last resourceVersion). */
const WATCH_TIMEOUT_S = 300;
/** No event or bookmark for this long: the connection is taken for dead (a blackholed API server). */
const SILENCE_MS = (WATCH_TIMEOUT_S + 30) * 1000;

/** Where the watch stands: starting (no list yet), synced, or stale (the last good items are kept). */
export type WatchState = 'starting' | 'synced' | 'stale';

export interface CollectionWatchOptions {
  api: ApiClient;
  /** The collection's path, e.g. /apis/faultline.dev/v1alpha1/namespaces/shop/faultpolicies. */
  path: string;
  labelSelector?: string;
  /** Called after the items changed (a list, or an event), with all of them. */
  onChange: (items: ReadonlyMap<string, Record<string, any>>) => void;
  /** Called when the state changes (a failure's message with stale). */
  onState?: (state: WatchState, error: string | undefined) => void;
  random?: () => number;
}

const keyOf = (o: Record<string, any>) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

/**
 * A list-then-watch of one collection, as client-go's reflector does: list (the items and the
 * list's resourceVersion), then watch from that resourceVersion with bookmarks, taking every
 * event's resourceVersion as the new starting point; a stream that ends cleanly is watched
 * again from there; 410 Gone (history compacted) lists again; any failure (API server down,
 * 401/403, a silent connection) makes the state stale, keeps the items as they were, and
 * retries with exponential backoff and jitter, from a fresh list.
 */
export class CollectionWatch {
  private readonly items = new Map<string, Record<string, any>>();
  private stopped = false;
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;
  state: WatchState = 'starting';
  lastError: string | undefined;
  lastSyncAt: Date | undefined;

  constructor(private readonly options: CollectionWatchOptions) {}

  /** Starts the loop (resolves at once; it runs until stop()). */
  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.current?.abort();
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let backoff = FIRST_BACKOFF_MS;
    while (!this.stopped) {
      try {
        let rv = await this.list();
        backoff = FIRST_BACKOFF_MS;
        for (;;) {
          const next = await this.watchOnce(rv);
          if (this.stopped || next === 'gone') break;
          rv = next;
        }
      } catch (err) {
        if (this.stopped) return;
        this.setState('stale', (err as Error).message);
        const wait = backoff * (0.5 + (this.options.random ?? Math.random)());
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => (clearTimeout(timer), resolve());
        });
      }
    }
  }

  private async list(): Promise<string> {
    const query = this.options.labelSelector ? `?labelSelector=${encodeURIComponent(this.options.labelSelector)}` : '';
    const list = await this.options.api.json<{ metadata?: { resourceVersion?: string }; items?: Record<string, any>[] }>('GET', `${this.options.path}${query}`);
    this.items.clear();
    for (const item of list.items ?? []) this.items.set(keyOf(item), item);
    this.lastSyncAt = new Date();
    this.setState('synced', undefined);
    this.options.onChange(this.items);
    return String(list.metadata?.resourceVersion ?? '');
  }

  /** One watch stream: resolves with the resourceVersion to go on from, or 'gone' (list again); rejects on failure. */
  private watchOnce(from: string): Promise<string | 'gone'> {
    return new Promise((resolve, reject) => {
      let rv = from;
      let gone = false;
      let failure: Error | undefined;
      let silence: NodeJS.Timeout | undefined;
      const quiet = () => {
        clearTimeout(silence);
        silence = setTimeout(() => {
          failure = new Error(`the watch was silent for ${SILENCE_MS / 1000} s`);
          this.current?.abort();
        }, SILENCE_MS);
        silence.unref();
      };
      const onEvent = (event: WatchEvent) => {
        quiet();
        const version = event.object?.metadata?.resourceVersion;
        if (event.type === 'ERROR') {
          if (event.object?.code === 410) gone = true;
          else failure = new Error(`the watch failed: ${event.object?.message ?? JSON.stringify(event.object)}`);
          return;
        }
        if (version) rv = String(version);
        if (event.type === 'BOOKMARK') return;
        if (event.type === 'DELETED') this.items.delete(keyOf(event.object));
        else this.items.set(keyOf(event.object), event.object);
        this.lastSyncAt = new Date();
        if (this.state !== 'synced') this.setState('synced', undefined);
        this.options.onChange(this.items);
      };
      const done = (err: unknown) => {
        clearTimeout(silence);
        if (this.stopped) return resolve('gone');
        if (gone) return resolve('gone');
        const problem = failure ?? (err ? new Error(describe(err)) : undefined);
        if (problem) return reject(problem);
        resolve(rv);
      };
      quiet();
      const query: Record<string, string | number | boolean> = { resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_S };
      if (this.options.labelSelector) query.labelSelector = this.options.labelSelector;
      this.options.api.watch(this.options.path, query, onEvent, done).then(
        (controller) => {
          this.current = controller;
          if (this.stopped) controller.abort();
        },
        (err) => done(err),
      );
    });
  }

  private setState(state: WatchState, error: string | undefined): void {
    const changed = state !== this.state || error !== this.lastError;
    this.state = state;
    this.lastError = error;
    if (changed) this.options.onState?.(state, error);
  }
}

/** A watch failure in one line: the HTTP status the library saw, or the network error's code. */
function describe(err: unknown): string {
  const status = (err as { statusCode?: number }).statusCode;
  if (status) return `the watch was refused: ${status} ${(err as Error).message}`;
  const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
  return `the watch ended: ${code ?? (err as Error).message}`;
}
