import { z } from 'zod';
import { rate } from '../policy/units.js';
import { DatagramStageBase } from './datagram-stage.js';
import { Pacer } from './pacer.js';
import { FaultStage } from './stage.js';
import { defineFault, type DatagramContext, type StageContext } from './types.js';

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

/**
 * On a UDP flow: datagrams leave one after another at `rate`, each once the clock has paid for
 * the one before; those arriving faster wait in a queue of one second's worth (at least
 * 16 KiB), and past it they are dropped (tail drop, counted as overflow), as a router's would.
 */
class BandwidthDatagrams extends DatagramStageBase {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private readonly pacer: Pacer;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BandwidthOptions, ctx: DatagramContext) {
    super(ctx);
    this.pacer = new Pacer(options.rate);
  }

  push(datagram: Buffer): void {
    if (this.interrupted) return this.ctx.emit(datagram);
    if (!this.admit(datagram.length, this.queue.length, this.queuedBytes, Math.max(16 * 1024, this.options.rate))) return;
    this.queue.push(datagram);
    this.queuedBytes += datagram.length;
    this.pump();
  }

  override interrupt(): void {
    super.interrupt();
    this.stop();
    for (const datagram of this.queue.splice(0)) this.ctx.emit(datagram);
    this.queuedBytes = 0;
  }

  override destroy(): void {
    super.destroy();
    this.stop();
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    if (this.timer) return;
    while (this.queue.length > 0) {
      const now = performance.now();
      const wait = this.pacer.waitMs(now);
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      const datagram = this.queue.shift() as Buffer;
      this.queuedBytes -= datagram.length;
      this.pacer.sent(datagram.length, now);
      this.ctx.emit(datagram);
    }
  }
}

export const bandwidth = defineFault<BandwidthOptions>({
  type: 'bandwidth',
  summary: 'cap the throughput at rate (e.g. "64KiB/s")',
  options: z.strictObject({ rate }),
  defaultStream: 'downstream',
  timeBounds: true,
  randomDefault: { type: 'bandwidth', rate: '64KiB/s' },
  stageOnData: true,
  stage: (options, ctx) => new BandwidthStage(options, ctx),
  datagram: (options, ctx) => new BandwidthDatagrams(options, ctx),
});
