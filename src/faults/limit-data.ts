import { z } from 'zod';
import { size } from '../policy/units.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

interface LimitDataOptions {
  bytes: number;
}

/**
 * Lets exactly `bytes` through in this direction (counted from when the fault began to apply),
 * then ends the stream; the link closes the connection once those bytes are delivered.
 */
class LimitDataStage extends FaultStage {
  constructor(private readonly options: LimitDataOptions, ctx: StageContext) {
    super(ctx);
    ctx.state.passed ??= 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.interrupted) return this.pass(chunk, callback);
    const state = this.ctx.state as { passed: number };
    const left = this.options.bytes - state.passed;
    if (left > 0) {
      const piece = chunk.length <= left ? chunk : chunk.subarray(0, left);
      state.passed += piece.length;
      this.push(piece);
      if (state.passed >= this.options.bytes) this.push(null);
    }
    callback();
  }

  override _construct(callback: () => void): void {
    const state = this.ctx.state as { passed: number };
    if (state.passed >= this.options.bytes) queueMicrotask(() => this.push(null));
    callback();
  }
}

export const limitData = defineFault<LimitDataOptions>({
  type: 'limit_data',
  summary: 'pass exactly bytes, then close the connection',
  options: z.strictObject({ bytes: size }),
  defaultStream: 'downstream',
  timeBounds: true,
  stage: (options, ctx) => new LimitDataStage(options, ctx),
});
