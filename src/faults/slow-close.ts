import { z } from 'zod';
import { duration } from '../policy/units.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

interface SlowCloseOptions {
  delay: number;
}

/** Data passes untouched; when the sender closes, the close reaches the peer `delay` later. */
class SlowCloseStage extends FaultStage {
  private flushed: (() => void) | undefined;

  constructor(private readonly options: SlowCloseOptions, ctx: StageContext) {
    super(ctx);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.pass(chunk, callback);
  }

  override _flush(callback: () => void): void {
    if (this.interrupted) return callback();
    this.flushed = callback;
    this.wait(this.options.delay, () => this.release());
  }

  protected override release(): void {
    const flushed = this.flushed;
    this.flushed = undefined;
    flushed?.();
  }
}

export const slowClose = defineFault<SlowCloseOptions>({
  type: 'slow_close',
  summary: 'delay the close (FIN) by delay',
  options: z.strictObject({ delay: duration }),
  defaultStream: 'downstream',
  timeBounds: true,
  stageOnData: true,
  stage: (options, ctx) => new SlowCloseStage(options, ctx),
});
