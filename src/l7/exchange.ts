import type { RequestDecision } from '../engine/engine.js';
import type { Answer, Exchange, ExchangeProtocol, ExchangeTap } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';

/**
 * What the faults drawn for one exchange asked for, gathered through the `Exchange` verbs and
 * carried out by each protocol (src/l7/http1-*.ts, http2.ts, websocket.ts) in one order:
 * reset or answer (the first fault that asked wins) instead of the upstream; otherwise the
 * request is held for the sum of request holds, forwarded, and its response held for the sum
 * of response holds and paced at the lowest rate.
 */
export class ExchangePlan implements Exchange {
  /** Faults that called at least one verb: each counts once in faults_injected_total. */
  readonly acted: CompiledFault[] = [];
  requestHoldMs = 0;
  responseHoldMs = 0;
  rate: number | undefined;
  /** The first reset or answer, and the fault that asked for it. */
  replaced: { by: CompiledFault; reset: true } | { by: CompiledFault; reset: false; answer: Answer } | undefined;
  dropped = false;
  closing: { code: number; reason: string } | undefined;
  /** Observers (mirror): handed the exchange's bytes as they pass, when it goes upstream. */
  readonly taps: ExchangeTap[] = [];
  private current: CompiledFault | undefined;
  private changes = false;

  constructor(readonly protocol: ExchangeProtocol) {}

  /** Runs each drawn fault's hook against this exchange. */
  static of(protocol: ExchangeProtocol, decisions: RequestDecision[]): ExchangePlan {
    // Most exchanges draw no fault: they share one plan that no verb ever touches.
    if (decisions.length === 0) return UNTOUCHED[protocol];
    const plan = new ExchangePlan(protocol);
    for (const d of decisions) {
      plan.current = d.fault;
      d.fault.type.exchange?.(d.options, plan, d.ctx);
    }
    plan.current = undefined;
    return plan;
  }

  /** No fault changes the exchange (observers may watch it): it is forwarded untouched. */
  get empty(): boolean {
    return !this.changes;
  }

  hold(ms: number, phase: 'request' | 'response' = 'request'): void {
    this.mark();
    if (phase === 'request') this.requestHoldMs += ms;
    else this.responseHoldMs += ms;
  }

  answer(answer: Answer): void {
    this.mark();
    this.replaced ??= { by: this.current as CompiledFault, reset: false, answer };
  }

  reset(): void {
    this.mark();
    this.replaced ??= { by: this.current as CompiledFault, reset: true };
  }

  pace(rate: number): void {
    this.mark();
    this.rate = Math.min(this.rate ?? Infinity, rate);
  }

  drop(): void {
    this.mark();
    this.dropped = true;
  }

  close(code: number, reason: string): void {
    this.mark();
    this.closing ??= { code, reason };
  }

  observe(tap: ExchangeTap): void {
    this.mark(false);
    this.taps.push(tap);
  }

  private mark(changes = true): void {
    this.changes ||= changes;
    const fault = this.current;
    if (fault && this.acted.at(-1) !== fault) this.acted.push(fault);
  }
}

const UNTOUCHED: Record<ExchangeProtocol, ExchangePlan> = { http: new ExchangePlan('http'), grpc: new ExchangePlan('grpc'), ws: new ExchangePlan('ws') };
