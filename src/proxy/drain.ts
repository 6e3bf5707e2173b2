/**
 * With no live connection and none accepted for this long (counted from the drain's start too,
 * so that the accept queue is served first), a drain ends before its deadline.
 */
export const DRAIN_QUIET_MS = 250;

/** What a drain cuts at its deadline. */
export interface Cuttable {
  /** Stops reading both sockets, so that no write is in flight when the connection is reset. */
  stopReading(): void;
  reset(reason: string): void;
}

/**
 * A graceful stop's data-plane half, as Envoy drains: readiness is already false, and the
 * listeners keep accepting (in `always` mode the pod's iptables still sends the app's traffic
 * here, and what waits in the accept queue must be answered, not reset). Once nothing is live
 * and nothing new came for DRAIN_QUIET_MS, or at the deadline, the listeners close; what is
 * still open then is reset, so that a transfer cut short looks broken, never complete.
 * Resolves with how many connections were cut.
 */
export async function drainConnections(live: ReadonlySet<Cuttable>, lastAcceptAt: () => number, timeoutMs: number, closeListeners: () => void): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (let now = started; now < deadline; now = Date.now()) {
    if (live.size === 0 && now - Math.max(started, lastAcceptAt()) >= DRAIN_QUIET_MS) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(25, deadline - now)));
  }
  closeListeners();
  const left = [...live];
  // A socket reset while a write of it is in flight has been seen to send a FIN instead of a
  // RST: nothing more is read, libuv gets a turn to finish those writes, then the reset.
  for (const conn of left) conn.stopReading();
  await new Promise((resolve) => setImmediate(resolve));
  for (const conn of left) conn.reset('drain timeout');
  return left.length;
}
