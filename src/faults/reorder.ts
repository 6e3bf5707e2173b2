import { z } from 'zod';
import { duration, probability } from '../policy/units.js';
import { DatagramStageBase } from './datagram-stage.js';
import { defineFault, type DatagramContext } from './types.js';

interface ReorderOptions {
  probability: number;
  delay: number;
}

/**
 * UDP listeners: with `probability` per datagram, it is held back `delay` while the ones behind
 * it go on, so they arrive before it (netem's reorder, the other way round: the few move).
 */
class ReorderDatagrams extends DatagramStageBase {
  constructor(private readonly options: ReorderOptions, ctx: DatagramContext) {
    super(ctx);
  }

  push(datagram: Buffer): void {
    if (this.interrupted || this.ctx.random() >= this.options.probability) return this.ctx.emit(datagram);
    this.ctx.count('reordered');
    this.hold(datagram, this.options.delay);
  }
}

export const reorder = defineFault<ReorderOptions>({
  type: 'reorder',
  summary: 'hold a datagram back by delay with probability, so later ones overtake it (UDP listeners)',
  options: z.strictObject({ probability, delay: duration.default(10) }),
  defaultStream: 'downstream',
  timeBounds: true,
  probabilityPer: 'chunk',
  datagram: (options, ctx) => new ReorderDatagrams(options, ctx),
});
