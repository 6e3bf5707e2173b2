import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault, type HandshakePhase } from './types.js';

interface TlsDelayOptions {
  delay: number;
  jitter?: number | undefined;
  phase: HandshakePhase;
}

/**
 * Holds the TLS handshake `delay` ± `jitter`: the ClientHello before it goes on (to the upstream,
 * or to faultline's own TLS server when it terminates), or the server's first answer (the
 * ServerHello) before it reaches the client. Either way the client waits that long for its
 * handshake; the two differ in what the upstream sees.
 */
export const tlsDelay = defineFault<TlsDelayOptions>({
  type: 'tls_delay',
  summary: 'hold the TLS handshake (phase clienthello or serverhello) by delay ± jitter',
  options: z.strictObject({ delay: duration, jitter: duration.optional(), phase: z.enum(['clienthello', 'serverhello']).default('clienthello') }),
  defaultStream: null,
  timeBounds: true,
  handshake: (options, handshake, random) => {
    handshake.hold(Math.max(0, options.delay + (options.jitter ? options.jitter * (2 * random() - 1) : 0)), options.phase);
  },
  randomDefault: { type: 'tls_delay', delay: '2s' },
});
