import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface WsDelayOptions {
  delay: number;
}

/** Delays WebSocket messages by `delay`; order is kept. */
export const wsDelay = defineFault<WsDelayOptions>({
  type: 'ws_delay',
  summary: 'delay WebSocket messages by delay',
  layer: 'ws',
  options: z.strictObject({ delay: duration }),
  defaultStream: 'downstream',
  timeBounds: true,
  exchange: (options, x) => x.hold(options.delay),
});
