import type { ServerResponse } from 'node:http';
import { matchesSelector, parseSelector } from '../../src/fleet/selector.js';
import { ApiStatus, RESOURCES, type ObjectStore, type StoredObject } from './kube-store.js';

/** What a watch request asked for (its query, parsed). */
export interface WatchRequest {
  resource: string;
  namespace: string | undefined;
  labelSelector: string;
  /** Absent, "" or "0": start with an ADDED event for every object there now. */
  resourceVersion: string | undefined;
  allowWatchBookmarks: boolean;
  timeoutSeconds: number | undefined;
}

/** The open watches of a fake API server, so that a test can cut them all (a restart, a network cut). */
export class WatchHub {
  /** Each open watch, and what ends it (unsubscribes, stops its timers). */
  private readonly open = new Map<ServerResponse, () => void>();
  /** How often a watch that allows bookmarks gets one (the real server: about a minute). */
  bookmarkMs = 1000;

  constructor(private readonly store: ObjectStore) {}

  /** How many watches are open now. */
  get size(): number {
    return this.open.size;
  }

  /** Ends every open watch cleanly, as the server does at timeoutSeconds: the client watches again from where it was. */
  endAll(): void {
    for (const [res, close] of [...this.open]) {
      close();
      res.end();
    }
  }

  /** Cuts every open watch (a restart, a network failure): the client sees an error. */
  dropAll(): void {
    for (const [res, close] of [...this.open]) {
      close();
      res.destroy();
    }
  }

  /**
   * Serves a watch as the real API server does: 200, then one JSON event per line in a chunked
   * body (ADDED, MODIFIED, DELETED, BOOKMARK), from the resourceVersion asked for (replayed from
   * history), or a 410 Gone ERROR event and the end of the stream when that history is
   * compacted. Bookmarks carry the store's resourceVersion; timeoutSeconds ends the stream.
   */
  serve(res: ServerResponse, watch: WatchRequest): void {
    let requirements;
    try {
      requirements = parseSelector(watch.labelSelector);
    } catch (err) {
      throw new ApiStatus(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`);
    }
    const info = RESOURCES.get(watch.resource);
    const matches = (o: StoredObject) => (watch.namespace === undefined || o.metadata.namespace === watch.namespace) && matchesSelector(requirements, o.metadata.labels);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The real server sends the headers at once: a client waits for them before it reads any event.
    res.flushHeaders();
    const send = (type: string, object: unknown) => void (!res.writableEnded && res.write(`${JSON.stringify({ type, object })}\n`));
    const from = watch.resourceVersion;
    if (from === undefined || from === '' || from === '0') {
      for (const object of this.store.list(watch.resource, watch.namespace, watch.labelSelector).items) send('ADDED', object);
    } else {
      const replay = this.store.eventsSince(watch.resource, Number(from));
      if (replay === undefined) {
        send('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.store.resourceVersion})`, reason: 'Expired', code: 410 });
        return void res.end();
      }
      for (const event of replay) if (matches(event.object)) send(event.type, event.object);
    }
    const stop = this.store.subscribe((event) => {
      if (event.resource === watch.resource && matches(event.object)) send(event.type, event.object);
    });
    const bookmarks = watch.allowWatchBookmarks
      ? setInterval(() => send('BOOKMARK', { kind: info?.kind, apiVersion: watch.resource.split('/').slice(0, -1).join('/'), metadata: { resourceVersion: this.store.resourceVersion } }), this.bookmarkMs)
      : undefined;
    const close = () => {
      stop();
      clearInterval(bookmarks);
      clearTimeout(timeout);
      this.open.delete(res);
    };
    const timeout = watch.timeoutSeconds ? setTimeout(() => (close(), res.end()), watch.timeoutSeconds * 1000) : undefined;
    this.open.set(res, close);
    res.once('close', close);
  }
}

/** The watch a request asks for, or undefined when it is not a watch. */
export function watchRequest(resource: string, namespace: string | undefined, query: URLSearchParams): WatchRequest | undefined {
  const watch = query.get('watch');
  if (watch !== 'true' && watch !== '1') return undefined;
  const timeout = query.get('timeoutSeconds');
  return {
    resource,
    namespace,
    labelSelector: query.get('labelSelector') ?? '',
    resourceVersion: query.get('resourceVersion') ?? undefined,
    allowWatchBookmarks: query.get('allowWatchBookmarks') === 'true',
    timeoutSeconds: timeout ? Number(timeout) : undefined,
  };
}
