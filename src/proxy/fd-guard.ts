import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

/** At most one overload line this often. */
const LOG_EVERY_MS = 10_000;

/** The soft RLIMIT_NOFILE of this process, from /proc (Linux); undefined when unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line?.[1] === undefined || line[1] === 'unlimited' ? undefined : Number(line[1]);
  } catch {
    return undefined;
  }
}

/** File descriptors open now (/proc/self/fd; 0 when unknown). */
export function openFileCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** Fds kept free for the admin API, the health and metrics endpoints, the policy file and logs. */
export function fdReserve(limit: number): number {
  return Math.max(16, Math.min(256, Math.ceil(limit * 0.05)));
}

/**
 * Refuses new proxied connections before the process runs out of file descriptors. At the
 * limit the kernel's accept fails and libuv drops the connection unseen, and `/healthz` cannot
 * accept either, so a liveness probe restarts the pod and cuts everything. Here a connection
 * (two fds: the client's, the upstream's) is admitted only while a reserve stays free.
 *
 * The fast path is one comparison: the fds in use are estimated from the last count of
 * /proc/self/fd plus two per connection opened since, and counted again (at most every 100 ms)
 * only when the estimate comes near the threshold.
 */
export class FdGuard {
  private readonly threshold: number;
  private counted = 0;
  private liveAtCount = 0;
  private countedAt = 0;
  private loggedAt = -Infinity;
  private refusedSinceLine = 0;

  constructor(
    readonly limit: number | undefined = openFileLimit(),
    private readonly count: () => number = openFileCount,
    readonly reserve = limit === undefined ? 0 : fdReserve(limit),
  ) {
    this.threshold = limit === undefined ? Infinity : limit - reserve;
    this.recount(0, 0);
  }

  /** Whether one more connection (two fds) fits, with `live` connections open now. */
  admit(live: number, now = Date.now()): boolean {
    if (this.threshold === Infinity) return true;
    const estimate = this.counted + 2 * (live - this.liveAtCount) + 2;
    if (estimate < this.threshold - 64) return true;
    if (now - this.countedAt < 100) return estimate <= this.threshold;
    this.recount(live, now);
    return this.counted + 2 <= this.threshold;
  }

  /**
   * Refuses an accepted socket (a RST: the client sees a failure at once, not a hang), counts it,
   * and logs at most one line per LOG_EVERY_MS, saying how many were refused since the last one.
   */
  refuse(socket: Socket, metrics: Metrics, log: Logger, now = Date.now()): void {
    socket.resetAndDestroy();
    metrics.overloadRefused.inc();
    this.refusedSinceLine++;
    if (now - this.loggedAt < LOG_EVERY_MS) return;
    log.warn({ refused: this.refusedSinceLine, openFiles: this.counted, limit: this.limit, reserve: this.reserve }, 'overload: near the file-descriptor limit, new connections refused');
    this.loggedAt = now;
    this.refusedSinceLine = 0;
  }

  private recount(live: number, now: number): void {
    this.counted = this.count();
    this.liveAtCount = live;
    this.countedAt = now;
  }
}
