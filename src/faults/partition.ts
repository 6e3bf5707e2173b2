import { z } from 'zod';
import { BlackholeStage } from './blackhole.js';
import { defineFault } from './types.js';

interface PartitionOptions {
  mode: 'reject' | 'blackhole';
}

/**
 * A network partition between the matched peers. `reject` resets new connections and cuts
 * live ones with a RST; `blackhole` lets connections open but nothing crosses, either way.
 */
export const partition = defineFault<PartitionOptions>({
  type: 'partition',
  summary: 'cut the matched peers apart: reject (RST) or blackhole (silence), live connections too',
  options: z.strictObject({ mode: z.enum(['reject', 'blackhole']).default('reject') }),
  defaultStream: 'both',
  timeBounds: true,
  // The kernel can drop or refuse the traffic itself (on-demand interception).
  kernelRule: (options) => options.mode,
  randomDefault: { type: 'partition' },
  admit: (options) => (options.mode === 'reject' ? 'partitioned (reject)' : undefined),
  activate: (options, conn) => {
    if (options.mode === 'reject') conn.reset('partitioned (reject)');
  },
  stage: (options, ctx) => (options.mode === 'blackhole' ? new BlackholeStage(ctx) : undefined),
});
