import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FaultlineError, NativeHelperMissingError } from '../errors.js';

/** Where the native helper is built (`npm ci` runs node-gyp on sidecar/native). */
export const NATIVE_HELPER = fileURLToPath(new URL('../../sidecar/native/build/Release/original_dst.node', import.meta.url));

/** Where a REDIRECTed connection was originally going. */
export interface OriginalDestination {
  address: string;
  port: number;
  family: 4 | 6;
}

interface NativeHelper {
  originalDst(fd: number): OriginalDestination;
}

const helpers = new Map<string, NativeHelper>();

/**
 * Loads the SO_ORIGINAL_DST helper. Transparent mode cannot work without it, so its absence
 * is an error that says how to build it.
 */
export function loadOriginalDstHelper(path = NATIVE_HELPER): NativeHelper {
  const loaded = helpers.get(path);
  if (loaded) return loaded;
  try {
    const helper = createRequire(import.meta.url)(path) as NativeHelper;
    helpers.set(path, helper);
    return helper;
  } catch (err) {
    throw new NativeHelperMissingError(
      `transparent interception needs the native SO_ORIGINAL_DST helper at ${path}, which could not be loaded ` +
        `(${(err as Error).message.split('\n')[0]}). Build it with: npx node-gyp rebuild --directory sidecar/native ` +
        '(needs g++, make and python3), or run without --inbound-port/--outbound-port.',
      { cause: err },
    );
  }
}

/** Whether the native helper can be loaded, i.e. whether transparent mode can start. */
export function originalDstAvailable(path = NATIVE_HELPER): boolean {
  try {
    loadOriginalDstHelper(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The destination a REDIRECTed socket was originally sent to (IPv4, and IPv6 where ip6tables
 * redirected it). Throws a FaultlineError: FL_ERR_NATIVE_HELPER_MISSING without the helper,
 * FL_ERR_NOT_REDIRECTED for a connection that no REDIRECT rule touched, FL_ERR_ORIGINAL_DST else.
 */
export function getOriginalDestination(socket: Socket): OriginalDestination {
  // The fd of a net.Socket is only reachable through its libuv handle.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new FaultlineError('FL_ERR_ORIGINAL_DST', 'socket has no file descriptor (closed, or not a TCP socket)');
  const helper = loadOriginalDstHelper();
  let original: OriginalDestination;
  try {
    original = helper.originalDst(fd);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new FaultlineError(code === 'FL_ERR_NOT_REDIRECTED' ? code : 'FL_ERR_ORIGINAL_DST', (err as Error).message, { cause: err });
  }
  // A connection made straight to a capture port (not redirected) still has conntrack state,
  // and its "original" destination is the capture listener itself: following it would make
  // the sidecar connect to itself, again and again.
  const local = unmapped(socket.localAddress ?? '');
  if (original.port === socket.localPort && unmapped(original.address) === local) {
    throw new FaultlineError('FL_ERR_NOT_REDIRECTED', `connection to ${local}:${original.port} was not redirected: it was made to the capture port itself`);
  }
  return original;
}

/** "::ffff:10.0.0.1" (an IPv4 peer of a dual-stack socket) → "10.0.0.1". */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
