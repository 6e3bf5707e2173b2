import { z } from 'zod';
import { defineFault } from './types.js';

/** Drops WebSocket data messages (probability per message); control frames pass. */
export const wsDrop = defineFault<Record<string, never>>({
  type: 'ws_drop',
  summary: 'drop WebSocket messages (probability per message)',
  layer: 'ws',
  options: z.strictObject({}),
  defaultStream: 'downstream',
  timeBounds: true,
  exchange: (_options, x) => x.drop(),
});
