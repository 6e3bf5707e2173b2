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

/**
 * A pass that runs one at a time and coalesces: asked while it runs, it runs once more after it
 * (however often it was asked meanwhile), and every caller gets the promise that covers its
 * request. `more` can stop the reruns (a component being stopped).
 */
export class CoalescedPass {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly more: () => boolean = () => true,
  ) {}

  /** Runs the pass now, or once more after the one running. */
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && this.more());
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
