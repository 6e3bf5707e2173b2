import type { Logger } from 'pino';
import type { ConnectionFaultState, FaultEngine, RequestDecision } from '../engine/engine.js';
import type { CompiledFault } from '../policy/compile.js';

/** What the L7 inspectors need from the connection they work for. */
export interface L7Host {
  readonly id: string;
  readonly engine: FaultEngine;
  readonly state: ConnectionFaultState;
  readonly log: Logger;
  /** A fault acted on a request or message (faults_injected_total). */
  countFault(fault: CompiledFault): void;
  /** A response went to the client (http_requests_total). */
  countRequest(code: number, faulted: boolean): void;
  close(reason: string): void;
  reset(reason: string): void;
}

/** The fault that answers (or resets) a request instead of the upstream, if any: the first one wins. */
export function abortOf(decisions: RequestDecision[]): RequestDecision | undefined {
  return decisions.find((d) => d.effect.abort || d.effect.reset);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
