import type { Readable, Writable } from 'node:stream';
import type { FaultStage } from '../faults/stage.js';
import type { ConnectionControl } from '../faults/types.js';

/** A fault that wants a stage in this direction; `create` may decline (returns undefined). */
export interface StageEntry {
  key: string;
  create: () => FaultStage | undefined;
  /** The stage acts only on bytes passing (and the end): it can wait until the source has some. */
  onData?: boolean;
}

const NONE: readonly never[] = Object.freeze([]);
const NO_END = Object.freeze({ end: false });

/**
 * One direction of a connection: source socket → (fault stages) → destination socket, made
 * over `source.pipe(dest)` (which its creator set up) when the first fault comes.
 *
 * With no fault it is `source.pipe(dest)`, which also ends the destination when the source
 * ends: our code runs no JavaScript per chunk and adds no listener. When faults
 * come or go, the link rewires while the connection lives: it unpipes the source (which then
 * pauses, its bytes waiting in its buffer and the kernel), interrupts the old chain so the
 * stages hand on what they hold, waits until the chain's last byte has been written to the
 * destination, then pipes the source into the new chain (or straight to the destination).
 * No byte is lost or reordered. Operations run one at a time, in order; with none pending, an
 * operation that completes at once (ending the destination) runs at once, without a promise.
 *
 * Stages that act only on the bytes passing (latency, bandwidth: `onData`) are not made while
 * the source is idle: the link unpipes it and waits for its next bytes (or its end) with one
 * 'readable' listener, then makes the chain. A fault added to thousands of idle connections so
 * costs a listener each, not a chain of streams each.
 */
export class Link {
  private stages: readonly FaultStage[] = NONE;
  private wanted: readonly string[] = NONE;
  /** The operations queued and not finished yet, and the promise of the last one. */
  private pending = 0;
  private queue: Promise<void> | undefined;
  private sourceEnded = false;
  /** Whether the link handles the source's end itself (from the first rewiring on). */
  private ownsEnd = false;
  private done = false;
  private draining: { tail: FaultStage; resolve: () => void } | undefined;
  /** The chain waiting for the source's next bytes (the source piped nowhere meanwhile). */
  private armed: StageEntry[] | undefined;
  /** The 'readable' listener of an armed link, made the first time it is armed (most links never are). */
  private onArmed: (() => void) | undefined;

  constructor(
    private readonly source: Readable,
    private readonly dest: Writable,
    private readonly conn: ConnectionControl,
  ) {}

  /** Number of stages in the chain now; 0 means the plain pipe. */
  get depth(): number {
    return this.stages.length;
  }

  /** Sets the faults acting on this direction, in order; no-op when they are the same. */
  setStages(entries: StageEntry[]): void {
    const keys = entries.map((e) => e.key);
    if (keys.length === this.wanted.length && keys.every((k, i) => k === this.wanted[i])) return;
    this.wanted = keys;
    if (this.pending > 0 || this.stages.length > 0) return this.run(() => this.rewire(entries));
    // Nothing queued and no chain to drain: rewired now, no promise made.
    try {
      this.detach();
      this.place(entries);
    } catch (err) {
      this.conn.reset(`rewiring failed: ${(err as Error).message}`);
    }
  }

  /** The connection is gone: stop every stage's timers, settle pending work. */
  destroy(): void {
    this.done = true;
    this.disarm();
    for (const stage of this.stages) stage.destroy();
    this.draining?.resolve();
  }

  private run(operation: () => Promise<void> | void): void {
    this.pending++;
    this.queue = (this.queue ?? Promise.resolve())
      .then(operation)
      .catch((err: unknown) => {
        this.conn.reset(`rewiring failed: ${(err as Error).message}`);
      })
      .finally(() => this.pending--);
  }

  private async rewire(entries: StageEntry[]): Promise<void> {
    if (this.done) return;
    const old = this.stages;
    if (old.length === 0) this.detach();
    else {
      this.source.unpipe(old[0]);
      await this.drain(old);
      if (this.done) return;
      // The source's end went into the old chain (which delivered everything): its 'end' will not
      // come again, so a new chain would never end the destination.
      if (this.sourceEnded) return this.finish(false);
    }
    this.place(entries);
  }

  /** Takes the source off the plain pipe (or the armed listener); the first time, the link takes over its end. */
  private detach(): void {
    if (this.done) return;
    if (this.armed) {
      // Piped nowhere while armed: only the listener to take off.
      this.disarm();
    } else if (!this.ownsEnd) {
      // Still the first, plain pipe: if the source ended, that pipe ended the destination.
      if (this.source.readableEnded) return void (this.done = true);
      this.source.unpipe(this.dest);
      this.ownsEnd = true;
      // 'end' comes once; `on` spares the once-wrapper.
      this.source.on('end', () => {
        this.sourceEnded = true;
        if (this.pending === 0) this.endDestination();
        else this.run(() => this.endDestination());
      });
    } else {
      this.source.unpipe(this.dest);
    }
  }

  /** With the source piped nowhere: the chain for `entries`, or the listener that waits for bytes to make it. */
  private place(entries: StageEntry[]): void {
    if (this.done) return;
    if (entries.length > 0 && !this.sourceEnded && this.source.readableLength === 0 && entries.every((e) => e.onData)) {
      this.stages = NONE;
      this.armed = entries;
      this.onArmed ??= () => this.fire();
      this.source.on('readable', this.onArmed);
      return;
    }
    this.chain(entries);
  }

  /**
   * The armed source has bytes (or its end): the chain is made in this same tick, so that the
   * source never flows with neither the listener nor the chain (another 'data' listener would
   * take the bytes). With an operation queued, that operation takes over instead.
   */
  private fire(): void {
    const entries = this.armed;
    if (!entries || this.pending > 0) return;
    this.disarm();
    try {
      this.chain(entries);
    } catch (err) {
      this.conn.reset(`rewiring failed: ${(err as Error).message}`);
    }
  }

  /** Takes the armed listener off (no-op when not armed). */
  private disarm(): void {
    if (!this.armed) return;
    this.armed = undefined;
    if (this.onArmed) this.source.removeListener('readable', this.onArmed);
  }

  /** Pipes the source through the stages of `entries` (straight to the destination with none). */
  private chain(entries: StageEntry[]): void {
    const stages = entries.map((e) => e.create()).filter((s): s is FaultStage => s !== undefined);
    this.stages = stages;
    const head = stages[0];
    const tail = stages.at(-1);
    if (!head || !tail) {
      this.stages = NONE;
      this.source.pipe(this.dest, NO_END);
      return;
    }
    for (let i = 0; i + 1 < stages.length; i++) (stages[i] as FaultStage).pipe(stages[i + 1] as FaultStage);
    for (const stage of stages) stage.on('error', (err) => this.conn.reset(`fault stage failed: ${err.message}`));
    tail.once('end', () => this.onTailEnd(tail));
    tail.pipe(this.dest, NO_END);
    this.source.pipe(head, NO_END);
  }

  /** Interrupts the chain and resolves once everything it held reached the destination. */
  private drain(stages: readonly FaultStage[]): Promise<void> {
    const tail = stages.at(-1) as FaultStage;
    const finished = new Promise<void>((resolve) => {
      if (tail.readableEnded) return resolve();
      this.draining = { tail, resolve };
    });
    for (const stage of stages) stage.interrupt();
    (stages[0] as FaultStage).end();
    return finished.then(() => {
      this.draining = undefined;
      tail.unpipe(this.dest);
      for (const stage of stages) stage.destroy();
    });
  }

  private onTailEnd(tail: FaultStage): void {
    if (this.draining?.tail === tail) return this.draining.resolve();
    if (this.stages.at(-1) !== tail || this.done) return;
    // The chain ended by itself: the source closed (its FIN passes on), or a fault such as
    // limit_data ended the stream, which closes the connection once its bytes are delivered.
    this.finish(!this.sourceEnded);
  }

  private endDestination(): void {
    if (this.done) return;
    const head = this.stages[0];
    if (head) head.end();
    else this.finish(false);
  }

  private finish(closeConnection: boolean): void {
    this.done = true;
    this.dest.end(() => {
      if (closeConnection) this.conn.close('stream ended by fault');
    });
  }
}
