/**
 * How many per-connection "connection closed" lines may be written: a token bucket, so that a
 * burst of short connections cannot turn logging into the bottleneck. Lines over the budget are
 * counted, and the next line written carries that count (`suppressed`).
 */
export class LineBudget {
  private tokens: number;
  private last: number;
  private dropped = 0;

  /**
   * @param perSecond lines allowed per second on average (0 = none)
   * @param burst lines allowed at once after a quiet spell
   */
  constructor(
    private readonly perSecond: number,
    private readonly burst = Math.max(1, perSecond),
    private readonly clock: () => number = Date.now,
  ) {
    this.tokens = perSecond > 0 ? this.burst : 0;
    this.last = clock();
  }

  /** Whether a line may be written now; when not, it is counted as suppressed. */
  take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** Lines suppressed since the last call (and resets the count). */
  takeSuppressed(): number {
    const dropped = this.dropped;
    this.dropped = 0;
    return dropped;
  }
}

const configured = Number(process.env.FAULTLINE_CONNECTION_LOG_RATE);

/**
 * The process-wide budget of connection lines: FAULTLINE_CONNECTION_LOG_RATE per second
 * (default 100; 0 turns them off), bursts of as many. A connection takes its share when it
 * opens, so that what its line needs (the client's address) is read while its socket is open.
 */
export const connectionLogBudget = new LineBudget(Number.isFinite(configured) && configured >= 0 ? configured : 100);
