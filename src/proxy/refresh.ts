/** What one slice of a re-plan (with the work it defers: stream rewiring runs on the next tick) should cost. */
export const REFRESH_SLICE_MS = 4;
const MAX_BATCH = 512;

/**
 * Re-plans live connections after a policy change in slices, with the event loop free between
 * them: with 9,000 live connections, one pass would hold every connection for half a second.
 * Most of a re-plan's cost is deferred (streams rewired on the next tick), so a slice's size is
 * adapted to what the whole loop turn took, not timed inside the slice. The first slice runs at
 * once, so a handful of connections is re-planned before `run` returns. A newer run supersedes
 * an older one (it takes every live connection again), and the older one's promise resolves then.
 */
export class SlicedRefresh {
  private generation = 0;
  /** Connections per slice, adapted from run to run. */
  private batch = 64;

  /** Calls `refresh()` on each item; resolves once all are done (or a newer run took over). */
  run(items: Iterable<{ refresh(): void }>): Promise<void> {
    const generation = ++this.generation;
    const list = [...items];
    let next = 0;
    const slice = (): boolean => {
      if (generation !== this.generation) return true;
      const end = Math.min(list.length, next + this.batch);
      // The batch bounds the deferred work; the clock bounds the slice itself.
      const until = performance.now() + REFRESH_SLICE_MS / 2;
      while (next < end) {
        (list[next++] as { refresh(): void }).refresh();
        if ((next & 7) === 0 && performance.now() >= until) break;
      }
      return next >= list.length;
    };
    if (slice()) return Promise.resolve();
    return new Promise((resolve) => {
      let turnStarted = performance.now();
      const step = () => {
        const turn = performance.now() - turnStarted;
        if (turn > REFRESH_SLICE_MS) this.batch = Math.max(8, this.batch >> 1);
        else if (turn < REFRESH_SLICE_MS / 2) this.batch = Math.min(MAX_BATCH, this.batch << 1);
        turnStarted = performance.now();
        if (slice()) resolve();
        else setImmediate(step);
      };
      setImmediate(step);
    });
  }
}
