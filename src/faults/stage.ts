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

  constructor(protected readonly ctx: StageContext) {
    super({ highWaterMark: STAGE_HIGH_WATER_MARK });
  }

  /** The fault is going away: release what is held now, then behave as a plain pass-through. */
  interrupt(): void {
    this.interrupted = true;
  }

  /** Shared pass-through for interrupted stages. */
  protected pass(chunk: Buffer, callback: TransformCallback): void {
    this.push(chunk);
    callback();
  }
}

/** Runs `fn` after `ms`, unless the stage is destroyed first. */
export function stageTimer(stage: Transform, ms: number, fn: () => void): NodeJS.Timeout {
  const timer = setTimeout(fn, ms);
  stage.once('close', () => clearTimeout(timer));
  return timer;
}
