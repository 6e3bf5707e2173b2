import { z } from 'zod';
import { ImmediateDatagrams } from './datagram-stage.js';
import { FaultStage } from './stage.js';
import { defineFault } from './types.js';

/** Swallows every byte while the fault applies; the connection stays open. */
export class BlackholeStage extends FaultStage {
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.interrupted) this.push(chunk);
    callback();
  }
}

export const blackhole = defineFault({
  type: 'blackhole',
  summary: 'accept the connection, pass nothing',
  options: z.strictObject({}),
  defaultStream: 'both',
  timeBounds: true,
  randomDefault: { type: 'blackhole' },
  stageOnData: true,
  stage: (_options, ctx) => new BlackholeStage(ctx),
  datagram: (_options, ctx) => new ImmediateDatagrams(ctx, (_datagram, c) => c.count('blackholed')),
});
