import type { Socket } from 'node:net';
import type { Resolve } from './listener.js';
import { AcceptedMeta } from './meta.js';

/** Reads the destination a REDIRECTed socket was originally sent to (SO_ORIGINAL_DST). */
export type OriginalDestination = (socket: Socket) => { address: string; port: number; family: 4 | 6 };

/**
 * Routes a transparently captured socket (Istio-style REDIRECT to 15001/15006) to where it was
 * going: outbound to the original destination, inbound to the app on the original address and
 * port (the sidecar's own connections, UID 1337, are exempt from capture, so this does not loop).
 * A socket whose original destination cannot be read is dropped with a RST.
 */
export function captureResolver(direction: 'inbound' | 'outbound', originalDestination: OriginalDestination, onError: (err: unknown) => void): Resolve {
  return (socket) => {
    let original: { address: string; port: number };
    try {
      original = originalDestination(socket);
    } catch (err) {
      onError(err);
      return undefined;
    }
    return {
      meta: new AcceptedMeta(socket, direction, { address: original.address, port: original.port }),
      target: { host: original.address, port: original.port },
    };
  };
}
