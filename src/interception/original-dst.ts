import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../errors.js';

/** Where the native helper is built (`npm ci` runs node-gyp on sidecar/native). */
export const NATIVE_HELPER = fileURLToPath(new URL('../../sidecar/native/build/Release/original_dst.node', import.meta.url));

interface NativeHelper {
  originalDst(fd: number): { address: string; port: number; family: 4 | 6 };
}

let helper: NativeHelper | undefined;

/**
 * Loads the SO_ORIGINAL_DST helper. Transparent mode cannot work without it, so its absence
 * is an error that says how to build it.
 */
export function loadOriginalDstHelper(path = NATIVE_HELPER): NativeHelper {
  if (helper) return helper;
  try {
    helper = createRequire(import.meta.url)(path) as NativeHelper;
    return helper;
  } catch (err) {
    throw new FaultlineError(
      'FL_ERR_NATIVE_HELPER_MISSING',
      `transparent interception needs the native SO_ORIGINAL_DST helper at ${path}, which could not be loaded ` +
        `(${(err as Error).message.split('\n')[0]}). Build it with: npx node-gyp rebuild --directory sidecar/native ` +
        '(needs g++, make and python3), or run without --inbound-port/--outbound-port.',
      { cause: err },
    );
  }
}

/** The destination a REDIRECTed socket was originally sent to. */
export function getOriginalDestination(socket: Socket): { address: string; port: number; family: 4 | 6 } {
  // The fd of a net.Socket is only reachable through its libuv handle.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new FaultlineError('FL_ERR_ORIGINAL_DST', 'socket has no file descriptor');
  return loadOriginalDstHelper().originalDst(fd);
}
