import { Transform, type TransformCallback } from 'node:stream';
import type { RequestDecision } from '../engine/engine.js';
import type { CompiledFault } from '../policy/compile.js';
import type { RequestMeta } from '../policy/match.js';
import { errorBody, faultHeader, http1Response } from './error-response.js';
import { BodyFramer, HeadError, headEnd, MAX_HEAD_BYTES, parseRequestHead, type RequestHead } from './http1-head.js';
import { abortOf, sleep, type L7Host } from './host.js';
import type { Http1ResponseFramer, PendingResponse } from './http1-response.js';

const EMPTY = Buffer.alloc(0);

/** Answers an aborted request: the fault's own body, or the SPEC's JSON error. */
export function abortResponse(decision: RequestDecision, request: { method: string; requestId: string | undefined }, close: boolean): Buffer {
  const abort = decision.effect.abort as NonNullable<RequestDecision['effect']['abort']>;
  const fault = faultHeader(decision.fault.rule, decision.fault.type.type);
  const body =
    abort.body ??
    errorBody({
      error: 'fault_injected',
      message: `${decision.fault.type.type} of rule ${decision.fault.rule} answered this request`,
      code: abort.status,
      rule: decision.fault.rule,
      fault: decision.fault.type.type,
      retryable: abort.retryable ?? abort.status >= 500,
      requestId: request.requestId,
    });
  return http1Response(abort.status, body, { fault, close, head: request.method === 'HEAD' });
}

/**
 * The client→upstream half of HTTP/1.1 inspection, a lean head-only framer: each request head
 * is parsed (method, path, headers, body framing), the engine says which L7 faults apply, and
 * the request goes on as its original bytes (bodies are framed by Content-Length or chunked,
 * never copied), is held (http_delay), or is answered by faultline (http_abort, rate_limit).
 * Keep-alive and pipelining keep their order through the response side's queue; an Upgrade
 * holds further bytes until the response says 101 (then a raw pipe, or WebSocket framing).
 */
export class Http1RequestFramer extends Transform {
  private input: Buffer = EMPTY;
  private body: BodyFramer | undefined;
  private forwarding = true;
  private mode: 'http' | 'upgrading' | 'raw' | 'ws' | 'closed' = 'http';
  private upgradeDone: (() => void) | undefined;
  /** WebSocket framing of client bytes once upgraded. */
  wsInput: ((chunk: Buffer) => void) | undefined;
  /** Called on a 101 to a WebSocket handshake a ws rule matched: sets up message framing. */
  onWebSocket: ((faults: CompiledFault[]) => void) | undefined;
  private wsFaults: CompiledFault[] = [];

  constructor(private readonly host: L7Host, private readonly response: Http1ResponseFramer) {
    super({ highWaterMark: 64 * 1024 });
    response.onUpgrade = (mode) => {
      this.mode = mode ?? 'http';
      if (mode === 'ws') this.onWebSocket?.(this.wsFaults);
      const done = this.upgradeDone;
      this.upgradeDone = undefined;
      done?.();
    };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.mode === 'raw') return callback(null, chunk);
    if (this.mode === 'ws') return (this.wsInput?.(chunk), callback());
    if (this.mode === 'closed') return callback();
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.pump().then(() => callback(), (err: unknown) => this.protocolError(err, callback));
  }

  private async pump(): Promise<void> {
    while (this.input.length > 0) {
      if (this.mode === 'upgrading') {
        await new Promise<void>((resolve) => (this.upgradeDone = resolve));
        continue;
      }
      if (this.mode !== 'http') {
        const rest = this.input;
        this.input = EMPTY;
        if (this.mode === 'raw') this.push(rest);
        else if (this.mode === 'ws') this.wsInput?.(rest);
        return;
      }
      if (!this.body) {
        const end = headEnd(this.input);
        if (end < 0 || end > MAX_HEAD_BYTES) {
          if (this.input.length > MAX_HEAD_BYTES) throw new HeadError(431, `request head larger than ${MAX_HEAD_BYTES} bytes`);
          return;
        }
        const headBytes = this.input.subarray(0, end);
        this.input = this.input.subarray(end);
        await this.request(parseRequestHead(headBytes), headBytes);
        if (this.destroyed) return;
        continue;
      }
      const n = this.body.consume(this.input);
      if (this.forwarding && n > 0) this.push(this.input.subarray(0, n));
      this.input = this.input.subarray(n);
      if (this.body.done) this.body = undefined;
    }
  }

  /** One request head: ask the engine, then forward, hold or answer it. */
  private async request(head: RequestHead, headBytes: Buffer): Promise<void> {
    const ws = head.upgrade === 'websocket';
    const meta: RequestMeta = { protocol: ws ? 'ws' : 'http', method: head.method, path: head.path, headers: head.headers };
    const { engine, state } = this.host;
    const decisions = engine.evaluateRequest(state, meta);
    for (const d of decisions) this.host.countFault(d.fault);
    const requestId = head.headers['x-request-id'];
    const body = new BodyFramer(head.body, head.length);
    this.body = body.done ? undefined : body;
    const aborted = abortOf(decisions);
    const pending: PendingResponse = { method: head.method, faulted: decisions.length > 0, delayMs: 0, throttle: undefined, upgrade: undefined, requestId };
    if (aborted?.effect.reset) {
      this.mode = 'closed';
      this.input = EMPTY;
      return this.host.reset(`${aborted.fault.rule}/${aborted.fault.type.type}`);
    }
    if (aborted) {
      const holdMs = aborted.effect.abort?.afterMs ?? 0;
      if (holdMs > 0) await sleep(holdMs);
      if (this.destroyed) return;
      // The body is read and dropped; a client waiting for 100-continue never sends it, so close after.
      const closeAfter = !body.done && /100-continue/i.test(head.headers.expect ?? '');
      this.forwarding = false;
      this.response.enqueue({ ...pending, synthetic: abortResponse(aborted, { method: head.method, requestId }, closeAfter), closeAfter });
      this.host.countRequest((aborted.effect.abort as { status: number }).status, true);
      if (closeAfter) this.mode = 'closed';
      return;
    }
    this.forwarding = true;
    for (const { effect } of decisions) {
      if (effect.delay?.phase === 'response') pending.delayMs += effect.delay.ms;
      if (effect.throttle !== undefined) pending.throttle = Math.min(pending.throttle ?? Infinity, effect.throttle);
    }
    let bytes = headBytes;
    if (head.upgrade) {
      this.wsFaults = ws ? engine.messageFaults(state, meta) : [];
      pending.upgrade = this.wsFaults.length > 0 ? 'ws' : 'raw';
      // Messages are re-framed: no compression extension may be negotiated past faultline.
      if (pending.upgrade === 'ws') bytes = withoutExtensions(headBytes);
      this.mode = 'upgrading';
    }
    this.response.enqueue(pending);
    const delay = decisions.reduce((ms, d) => ms + (d.effect.delay?.phase === 'request' ? d.effect.delay.ms : 0), 0);
    if (delay > 0) await sleep(delay);
    if (!this.destroyed) this.push(bytes);
  }

  private protocolError(err: unknown, callback: TransformCallback): void {
    if (!(err instanceof HeadError)) return callback(err as Error);
    // A clear answer to the offending client, after the answers it is owed; then the connection ends.
    this.host.log.debug({ cause: err.message, status: err.status }, 'malformed request');
    this.mode = 'closed';
    this.input = EMPTY;
    const body = errorBody({ error: 'bad_request', message: err.message, code: err.status, retryable: false });
    this.response.enqueue({ method: 'GET', synthetic: http1Response(err.status, body, { close: true }), closeAfter: true, faulted: false, delayMs: 0, throttle: undefined, upgrade: undefined, requestId: undefined });
    this.host.countRequest(err.status, false);
    callback();
  }
}

function withoutExtensions(head: Buffer): Buffer {
  const text = head.toString('latin1');
  const stripped = text.replace(/\r\nsec-websocket-extensions:[^\r]*/gi, '');
  return stripped === text ? head : Buffer.from(stripped, 'latin1');
}
