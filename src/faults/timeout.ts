import { z } from 'zod';
import { duration } from '../policy/units.js';
import { BlackholeStage } from './blackhole.js';
import { defineFault, type StageContext } from './types.js';

interface TimeoutOptions {
  timeout: number;
}

/**
 * Stops the data (like Toxiproxy's timeout) and closes the connection `timeout` after the fault
 * began to apply; 0 holds it forever. The deadline survives rewiring of the chain.
 */
class TimeoutStage extends BlackholeStage {
  constructor(options: TimeoutOptions, ctx: StageContext) {
    super(ctx);
    if (options.timeout <= 0) return;
    ctx.state.startedAt ??= performance.now();
    const left = Math.max(0, (ctx.state.startedAt as number) + options.timeout - performance.now());
    this.wait(left, () => ctx.conn.close(`timeout after ${options.timeout} ms`));
  }
}

export const timeout = defineFault<TimeoutOptions>({
  type: 'timeout',
  summary: 'stop all data, close after timeout (0 = hold forever)',
  options: z.strictObject({ timeout: duration }),
  defaultStream: 'both',
  timeBounds: true,
  randomDefault: { type: 'timeout', timeout: '5s' },
  stage: (options, ctx) => new TimeoutStage(options, ctx),
});
