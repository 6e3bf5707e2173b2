import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ConnectionFaultState, FaultEngine } from '../engine/engine.js';
import type { Pacer } from '../faults/pacer.js';
import type { CompiledFault } from '../policy/compile.js';

/** What the L7 inspectors need from the connection they work for. */
export interface L7Host {
  readonly id: string;
  readonly engine: FaultEngine;
  readonly state: ConnectionFaultState;
  readonly log: Logger;
  /** Aborted when the connection ends: every L7 wait listens to it, so no timer outlives it. */
  readonly signal: AbortSignal;
  /** A fault acted on a request or message (faults_injected_total). */
  countFault(fault: CompiledFault): void;
  /** A response went to the client (http_requests_total). */
  countRequest(code: number, faulted: boolean): void;
  close(reason: string): void;
  reset(reason: string): void;
}

/**
 * Waits `ms`, or less when `signal` aborts first (the stream or connection ended): callers
 * check the signal (or their stream) afterwards. Never rejects.
 */
export function hold(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

/**
 * Hands `bytes` to `push` in the pacer's slices, each at its slot; stops early when `signal`
 * aborts. The one way L7 code paces bytes (http_throttle on HTTP/1.1 and HTTP/2 alike).
 */
export async function paced(pacer: Pacer, bytes: Buffer, push: (part: Buffer) => void, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < bytes.length && !signal.aborted; i += pacer.slice) {
    const part = bytes.subarray(i, i + pacer.slice);
    await hold(pacer.waitMs(), signal);
    if (signal.aborted) return;
    pacer.sent(part.length);
    push(part);
  }
}
