import { z } from 'zod';
import { rate } from '../policy/units.js';
import { Pacer } from './pacer.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

interface BandwidthOptions {
  rate: number;
}

/**
 * Caps a direction at `rate` bytes per second, through the shared Pacer. The write callback
 * is held until the chunk is out: the sender is pushed back, not buffered.
 */
class BandwidthStage extends FaultStage {
  private readonly pacer: Pacer;
  private pending: { chunk: Buffer; offset: number; callback: () => void } | undefined;

  constructor(options: BandwidthOptions, ctx: StageContext) {
    super(ctx);
    this.pacer = new Pacer(options.rate);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.pending = { chunk, offset: 0, callback };
    this.pump();
  }

  protected override release(): void {
    this.pump();
  }

  private pump(): void {
    const pending = this.pending;
    if (!pending) return;
    const { chunk } = pending;
    while (pending.offset < chunk.length) {
      const now = performance.now();
      const waitMs = this.interrupted ? 0 : this.pacer.waitMs(now);
      if (waitMs > 0) return this.wait(waitMs, () => this.pump());
      const end = this.interrupted ? chunk.length : Math.min(chunk.length, pending.offset + this.pacer.slice);
      this.push(chunk.subarray(pending.offset, end));
      this.pacer.sent(end - pending.offset, now);
      pending.offset = end;
    }
    this.pending = undefined;
    pending.callback();
  }
}

export const bandwidth = defineFault<BandwidthOptions>({
  type: 'bandwidth',
  summary: 'cap the throughput at rate (e.g. "64KiB/s")',
  options: z.strictObject({ rate }),
  defaultStream: 'downstream',
  timeBounds: true,
  randomDefault: { type: 'bandwidth', rate: '64KiB/s' },
  stage: (options, ctx) => new BandwidthStage(options, ctx),
});
