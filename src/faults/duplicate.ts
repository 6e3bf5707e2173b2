import { z } from 'zod';
import { probability } from '../policy/units.js';
import { ImmediateDatagrams } from './datagram-stage.js';
import { defineFault } from './types.js';

interface DuplicateOptions {
  probability: number;
}

/** UDP listeners: with `probability` per datagram, the peer gets it twice (back to back, as netem's duplicate). */
export const duplicate = defineFault<DuplicateOptions>({
  type: 'duplicate',
  summary: 'deliver a datagram twice with probability (per datagram; UDP listeners)',
  options: z.strictObject({ probability }),
  defaultStream: 'downstream',
  timeBounds: true,
  probabilityPer: 'chunk',
  datagram: (options, ctx) =>
    new ImmediateDatagrams(ctx, (datagram, c) => {
      c.emit(datagram);
      if (c.random() >= options.probability) return;
      c.count('duplicated');
      c.emit(datagram);
    }),
});
