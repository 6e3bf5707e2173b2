import { z } from 'zod';
import { rate } from '../policy/units.js';
import { DatagramStageBase } from './datagram-stage.js';
import { FaultStage } from './stage.js';
import { defineFault, type DatagramContext, type StageContext } from './types.js';

/** How far behind real time the pacing clock may fall before it forgets (ms). */
const CATCH_UP_MS = 20;

interface BandwidthOptions {
  rate: number;
}

/**
 * Caps a direction at `rate` bytes per second. Data leaves in slices of about 20 ms worth,
 * each at its slot on a virtual clock; an idle link earns no credit beyond CATCH_UP_MS.
 * The write callback is held until the chunk is out: the sender is pushed back, not buffered.
 */
class BandwidthStage extends FaultStage {
  private readonly slice: number;
  private next = 0;
  private pending: { chunk: Buffer; offset: number; callback: () => void } | undefined;

  constructor(private readonly options: BandwidthOptions, ctx: StageContext) {
    super(ctx);
    this.slice = Math.min(64 * 1024, Math.max(512, Math.floor(options.rate / 50)));
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
      if (!this.interrupted && this.next > now + 1) {
        return this.wait(this.next - now, () => this.pump());
      }
      const end = this.interrupted ? chunk.length : Math.min(chunk.length, pending.offset + this.slice);
      this.push(chunk.subarray(pending.offset, end));
      // The clock may lag `now` by up to CATCH_UP_MS, so a timer that fires late is made up for;
      // beyond that an idle link earns nothing (at most CATCH_UP_MS worth of burst).
      this.next = Math.max(this.next, now - CATCH_UP_MS) + ((end - pending.offset) / this.options.rate) * 1000;
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
  private next = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BandwidthOptions, ctx: DatagramContext) {
    super(ctx);
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
      if (this.next > now + 1) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.next - now);
        return;
      }
      const datagram = this.queue.shift() as Buffer;
      this.queuedBytes -= datagram.length;
      this.next = Math.max(this.next, now - CATCH_UP_MS) + (datagram.length / this.options.rate) * 1000;
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
  stage: (options, ctx) => new BandwidthStage(options, ctx),
  datagram: (options, ctx) => new BandwidthDatagrams(options, ctx),
});
