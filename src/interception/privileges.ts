import { readFileSync } from 'node:fs';
import { FaultlineError } from '../errors.js';

/**
 * Drops this process from root to `uid`/`gid` for good: supplementary groups cleared, then the
 * group, then the user (real, effective and saved). A process that stops being root this way
 * loses every capability too (no keep-caps), so the data plane holds none; and the sockets it
 * opens from then on belong to `uid`, which the interception rules exempt from capture. Throws
 * a FaultlineError (FL_ERR_PRIVILEGES) unless it worked, checked by trying to become root again.
 */
export function dropPrivileges(uid: number, gid: number): void {
  if (process.getuid?.() !== 0) throw new FaultlineError('FL_ERR_PRIVILEGES', `dropping to ${uid}:${gid} needs root; this process runs as ${process.getuid?.()}`);
  process.setgroups?.([]);
  process.setgid?.(gid);
  process.setuid?.(uid);
  let regained = false;
  try {
    process.setuid?.(0);
    regained = true;
  } catch {
    // expected: there is no way back
  }
  if (regained || process.getuid?.() !== uid || process.getgid?.() !== gid || effectiveCapabilities() !== 0n) {
    throw new FaultlineError('FL_ERR_PRIVILEGES', `could not drop to ${uid}:${gid} for good`);
  }
}

/** The effective capability set of this process (Linux), 0n where it cannot be read. */
export function effectiveCapabilities(): bigint {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex ? BigInt(`0x${hex}`) : 0n;
  } catch {
    return 0n;
  }
}
