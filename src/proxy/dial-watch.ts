import type { Socket } from 'node:net';
import { ConnectTimeoutError } from '../errors.js';

/**
 * Upstream dials that have not connected yet, with their deadlines: one interval timer for all
 * of them, instead of a timer set and cleared per connection (which cost more than the rest of
 * a plain connection's own bookkeeping). A dial is cut within a quarter of its timeout (at most
 * 250 ms) after its deadline.
 */
export class DialWatch {
  private readonly dials = new Map<Socket, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Watches `socket` from now until `done`; destroys it with a timeout error at its deadline. */
  watch(socket: Socket): void {
    this.dials.set(socket, this.clock() + this.timeoutMs);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(1, Math.min(250, this.timeoutMs / 4)));
      this.timer.unref();
    }
  }

  /** The dial connected or failed by itself: no longer watched. */
  done(socket: Socket): void {
    this.dials.delete(socket);
  }

  /** Dials watched now. */
  get size(): number {
    return this.dials.size;
  }

  private sweep(): void {
    const now = this.clock();
    // Every dial has the same timeout, so the map (in insertion order) is in deadline order.
    for (const [socket, deadline] of this.dials) {
      if (deadline > now) break;
      this.dials.delete(socket);
      socket.destroy(new ConnectTimeoutError(this.timeoutMs));
    }
    if (this.dials.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const watches = new Map<number, DialWatch>();

/** The process-wide watch of dials that time out after `timeoutMs`. */
export function dialWatch(timeoutMs: number): DialWatch {
  let watch = watches.get(timeoutMs);
  if (!watch) watches.set(timeoutMs, (watch = new DialWatch(timeoutMs)));
  return watch;
}
