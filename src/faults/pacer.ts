/** How far behind real time a pacing clock may fall before it forgets (ms): the largest burst. */
const CATCH_UP_MS = 20;

/**
 * The one byte pacer (bandwidth stages, http_throttle on every protocol): a virtual clock on
 * which each slice of about 20 ms worth of bytes has its slot. A timer that fires late is made
 * up for, up to CATCH_UP_MS; an idle stream earns no credit beyond that.
 */
export class Pacer {
  /** Bytes sent in one go: about 20 ms worth, between 512 B and 64 KiB. */
  readonly slice: number;
  private next = 0;

  constructor(readonly rate: number) {
    this.slice = Math.min(64 * 1024, Math.max(512, Math.floor(rate / 50)));
  }

  /** How long to wait (ms) before the next slice may leave at `now`; 0 when it may leave now. */
  waitMs(now = performance.now()): number {
    return this.next > now + 1 ? this.next - now : 0;
  }

  /** `bytes` left at `now`: moves the clock on. */
  sent(bytes: number, now = performance.now()): void {
    this.next = Math.max(this.next, now - CATCH_UP_MS) + (bytes / this.rate) * 1000;
  }
}
