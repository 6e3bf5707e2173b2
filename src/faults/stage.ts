import { Transform, type TransformCallback } from 'node:stream';
import type { StageContext } from './types.js';

/** Bytes a stage accepts before it stops asking for more: what bounds memory under faults. */
export const STAGE_HIGH_WATER_MARK = 64 * 1024;

/**
 * A fault acting on one direction's bytes: a Transform in the direction's chain. Stages respect
 * backpressure (they hold the write callback while they hold too much) and, when interrupted
 * (the fault is being removed from a live connection), hand on everything they hold at once
 * and pass the rest through, so no byte is lost or reordered unless losing it is the fault.
 */
export abstract class FaultStage extends Transform {
  protected interrupted = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(protected readonly ctx: StageContext) {
    super({ highWaterMark: STAGE_HIGH_WATER_MARK });
  }

  /**
   * The fault is going away: release what is held now, then behave as a plain pass-through.
   * Subclasses that hold data override `release()`.
   */
  interrupt(): void {
    this.interrupted = true;
    this.cancelWait();
    this.release();
  }

  /** Hands on whatever the stage holds (called on interrupt). */
  protected release(): void {}

  /** Runs `fn` after `ms`: the stage's one pending wait, cancelled by interrupt and destroy. */
  protected wait(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
  }

  protected get hasPendingWait(): boolean {
    return this.timer !== undefined;
  }

  protected cancelWait(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.cancelWait();
    callback(err);
  }

  /** Shared pass-through for interrupted stages. */
  protected pass(chunk: Buffer, callback: TransformCallback): void {
    this.push(chunk);
    callback();
  }
}
