/**
 * Runs jobs one at a time, in the order they were queued: the one serial queue helper (admin
 * layer changes, on-demand interception's rule changes). A job that fails rejects its own
 * promise and does not stop the jobs after it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `job` after every job queued before it; resolves or rejects as `job` does. */
  run<T>(job: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
