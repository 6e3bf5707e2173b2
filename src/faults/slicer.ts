import { z } from 'zod';
import { duration, size } from '../policy/units.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

interface SlicerOptions {
  averageSize: number;
  sizeVariation: number;
  delay: number;
}

/**
 * Cuts each chunk into slices of averageSize ± sizeVariation bytes, written separately with
 * `delay` between them (Toxiproxy's slicer): exercises the peer's partial-read handling.
 */
class SlicerStage extends FaultStage {
  private pending: { chunk: Buffer; offset: number; callback: () => void } | undefined;

  constructor(private readonly options: SlicerOptions, ctx: StageContext) {
    super(ctx);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.pending = { chunk, offset: 0, callback };
    this.slice();
  }

  protected override release(): void {
    this.slice();
  }

  private slice(): void {
    const pending = this.pending;
    if (!pending) return;
    const { averageSize, sizeVariation, delay } = this.options;
    while (pending.offset < pending.chunk.length) {
      const variation = Math.round(sizeVariation * (2 * this.ctx.random() - 1));
      const length = this.interrupted ? Infinity : Math.max(1, averageSize + variation);
      const end = Math.min(pending.chunk.length, pending.offset + length);
      this.push(pending.chunk.subarray(pending.offset, end));
      pending.offset = end;
      if (delay > 0 && !this.interrupted && end < pending.chunk.length) {
        return this.wait(delay, () => this.slice());
      }
    }
    this.pending = undefined;
    pending.callback();
  }
}

export const slicer = defineFault<SlicerOptions>({
  type: 'slicer',
  summary: 'slice data into averageSize ± sizeVariation byte writes, delay apart',
  options: z
    .strictObject({ averageSize: size, sizeVariation: size.default(0), delay: duration.default(0) })
    .refine((o) => o.averageSize >= 1, { message: 'averageSize must be at least 1 byte', path: ['averageSize'] })
    .refine((o) => o.sizeVariation < o.averageSize, { message: 'sizeVariation must be smaller than averageSize', path: ['sizeVariation'] }),
  defaultStream: 'downstream',
  timeBounds: true,
  stageOnData: true,
  stage: (options, ctx) => new SlicerStage(options, ctx),
});
