/** What became of one target of a fleet command. */
export interface TargetResult<T> {
  target: string;
  result: 'ok' | 'failed' | 'skipped' | 'not-attempted';
  /** Why it failed, was skipped or not attempted; a note when ok. */
  reason?: string;
  data?: T;
}

export interface FanOutOptions {
  /** At most this many calls in flight (default 32). */
  concurrency?: number;
  /** Once aborted, no new call starts; calls in flight finish (each bounded by its own timeout). */
  signal?: AbortSignal;
}

/** A call that failed for a reason worth a line of its own, per target. */
export class TargetFailure extends Error {}

/**
 * Runs `call` for every target, at most `concurrency` at a time, and collects one result per
 * target in the targets' order: `ok` with what the call returned, `failed` with why (a
 * TargetFailure's message, or any error's), `not-attempted` for the targets never started
 * because the signal was aborted.
 */
export async function fanOut<T>(targets: readonly string[], call: (target: string) => Promise<T>, options: FanOutOptions = {}): Promise<TargetResult<T>[]> {
  const results: TargetResult<T>[] = targets.map((target) => ({ target, result: 'not-attempted', reason: 'interrupted before it was contacted' }));
  let next = 0;
  const worker = async () => {
    while (next < targets.length && !options.signal?.aborted) {
      const index = next++;
      const target = targets[index] as string;
      try {
        results[index] = { target, result: 'ok', data: await call(target) };
      } catch (err) {
        results[index] = { target, result: 'failed', reason: (err as Error).message };
      }
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 32, targets.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
