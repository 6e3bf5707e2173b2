import type { CertificateSpec, Handshake, HandshakePhase } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';

/**
 * What the handshake faults drawn for one connection asked for, gathered through the
 * `Handshake` verbs (src/faults/types.ts) and carried out by TlsFront in one order: the
 * ClientHello is held for the sum of clienthello holds, then the first reject or present (in
 * rule, then fault order) answers it, after the sum of serverhello holds; with neither, the
 * handshake goes on (to the upstream, or to termination) and the server's answer is held.
 */
export class HandshakePlan implements Handshake {
  clientHelloMs = 0;
  serverHelloMs = 0;
  /** The first reject or present, and the fault that asked for it. */
  answer: { by: CompiledFault; alert: number } | { by: CompiledFault; certificate: CertificateSpec } | undefined;
  private current: CompiledFault | undefined;

  /** Runs each fault's handshake hook against a new plan. */
  static of(faults: readonly CompiledFault[], random: () => number): HandshakePlan {
    const plan = new HandshakePlan();
    for (const fault of faults) {
      plan.current = fault;
      fault.type.handshake?.(fault.options, plan, random);
    }
    plan.current = undefined;
    return plan;
  }

  hold(ms: number, phase: HandshakePhase = 'clienthello'): void {
    if (phase === 'clienthello') this.clientHelloMs += ms;
    else this.serverHelloMs += ms;
  }

  reject(alert: number): void {
    this.answer ??= { by: this.current as CompiledFault, alert };
  }

  present(certificate: CertificateSpec): void {
    this.answer ??= { by: this.current as CompiledFault, certificate };
  }
}
