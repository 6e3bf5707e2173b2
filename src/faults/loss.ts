import { z } from 'zod';
import { duration, probability } from '../policy/units.js';
import { ImmediateDatagrams } from './datagram-stage.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

interface LossOptions {
  probability: number;
  retransmitDelay: number;
}

/**
 * Packet loss as TCP's peer sees it: the bytes of a "lost" chunk arrive only after a
 * retransmission timeout, and everything behind them waits (head-of-line blocking). Bytes are
 * never dropped: the application above TCP never sees holes, only stalls.
 */
class LossStage extends FaultStage {
  private held: { chunk: Buffer; callback: () => void } | undefined;

  constructor(private readonly options: LossOptions, ctx: StageContext) {
    super(ctx);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.interrupted || this.ctx.random() >= this.options.probability) return this.pass(chunk, callback);
    this.held = { chunk, callback };
    this.wait(this.options.retransmitDelay, () => this.release());
  }

  protected override release(): void {
    const held = this.held;
    this.held = undefined;
    if (held) this.pass(held.chunk, held.callback);
  }
}

export const loss = defineFault<LossOptions>({
  type: 'loss',
  summary: 'stall a chunk for a retransmission timeout with probability (per chunk)',
  options: z.strictObject({ probability, retransmitDelay: duration.default(200) }),
  defaultStream: 'downstream',
  timeBounds: true,
  randomDefault: { type: 'loss', probability: 0.1 },
  probabilityPer: 'chunk',
  stageOnData: true,
  stage: (options, ctx) => new LossStage(options, ctx),
  // A UDP flow shows the holes TCP hides: a lost datagram is gone.
  datagram: (options, ctx) =>
    new ImmediateDatagrams(ctx, (datagram, c) => {
      if (c.random() < options.probability) c.count('lost');
      else c.emit(datagram);
    }),
});
