import { z } from 'zod';
import { defineFault } from './types.js';

/** New connections are accepted by the kernel, then reset at once: the peer sees ECONNRESET. */
export const refuse = defineFault({
  type: 'refuse',
  summary: 'reset new connections at once',
  options: z.strictObject({}),
  defaultStream: null,
  timeBounds: false,
  randomDefault: { type: 'refuse' },
  admit: () => 'refused by fault',
});
