import type { TransformCallback } from 'node:stream';
import { Pacer } from '../faults/pacer.js';
import type { Answer, ExchangeTap } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';
import type { RequestMeta } from '../policy/match.js';
import { errorBody, faultReply, http1Response } from './error-response.js';
import { ExchangePlan } from './exchange.js';
import { BodyFramer, checkLineBreaks, checkPartialRequestHead, HeadError, headEnd, MAX_HEAD_BYTES, parseRequestHead, type RequestHead } from './http1-head.js';
import { EMPTY, Http1Framer } from './http1-framer.js';
import { hold, type L7Host } from './host.js';
import type { Http1ResponseFramer, PendingResponse } from './http1-response.js';

/**
 * After a malformed request, how long the answers owed before it may take to go out before the
 * connection is closed anyway (an upstream waiting for the rest of a broken body never answers).
 */
export const MALFORMED_CLOSE_MS = 1000;

/** An answered request as HTTP/1.1 bytes: the fault's own body, or the SPEC's JSON error. */
export function abortResponse(fault: CompiledFault, answer: Answer, request: { method: string; requestId: string | undefined }, close: boolean): Buffer {
  const reply = faultReply(fault, answer, request.requestId);
  return http1Response(reply.status, reply.body, { fault: reply.fault, close, head: request.method === 'HEAD', contentType: reply.contentType });
}

/**
 * The client→upstream half of HTTP/1.1 inspection, a lean head-only framer: each request head
 * is parsed (method, path, headers, body framing), the engine says which L7 faults apply, and
 * the request goes on as its original bytes (bodies are framed by Content-Length or chunked,
 * never copied), is held (http_delay), or is answered by faultline (http_abort, rate_limit).
 * Keep-alive and pipelining keep their order through the response side's queue; an Upgrade
 * holds further bytes until the response says 101 (then a raw pipe, or WebSocket framing).
 */
export class Http1RequestFramer extends Http1Framer {
  /** The response slot of the request whose body is being read. */
  private current: PendingResponse | undefined;
  private forwarding = true;
  private mode: 'http' | 'upgrading' | 'raw' | 'ws' | 'closed' = 'http';
  private upgradeDone: (() => void) | undefined;
  /** Called on a 101 to a WebSocket handshake a ws rule matched: sets up message framing. */
  onWebSocket: ((faults: CompiledFault[]) => void) | undefined;
  private wsFaults: CompiledFault[] = [];
  /** Observers (mirror) of the request whose body is being read. */
  private bodyTaps: ExchangeTap[] | undefined;
  private readonly onFramingError = (err: unknown, callback: TransformCallback) => this.protocolError(err, callback);

  constructor(host: L7Host, private readonly response: Http1ResponseFramer) {
    super(host, 'upstream');
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
    if (this.mode === 'ws') return this.wsInput(chunk, callback);
    if (this.mode === 'closed') return callback();
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.pump(callback, this.onFramingError);
  }

  protected frame(): Promise<void> | undefined {
    while (this.input.length > 0) {
      if (this.mode === 'upgrading') return new Promise<void>((resolve) => (this.upgradeDone = resolve));
      if (this.mode !== 'http') {
        const rest = this.input;
        this.input = EMPTY;
        this.flushOut();
        if (this.mode === 'raw') this.push(rest);
        else if (this.mode === 'ws') return new Promise<void>((resolve) => this.wsInput(rest, resolve));
        return undefined;
      }
      if (!this.body) {
        const end = headEnd(this.input);
        if (end < 0 || end > MAX_HEAD_BYTES) {
          if (this.input.length > MAX_HEAD_BYTES) throw new HeadError(431, `request head larger than ${MAX_HEAD_BYTES} bytes`);
          // A head broken by a bare LF or CR, or by a malformed line, may never end: refuse it now.
          if (end < 0) {
            checkLineBreaks(this.input, 400);
            checkPartialRequestHead(this.input);
          }
          return undefined;
        }
        const headBytes = this.input.subarray(0, end);
        this.input = this.input.subarray(end);
        const waiting = this.request(parseRequestHead(headBytes), headBytes);
        if (waiting) return waiting;
        continue;
      }
      const n = this.body.consume(this.input);
      if (this.forwarding && n > 0) this.send(this.input.subarray(0, n));
      if (this.bodyTaps && n > 0) for (const tap of this.bodyTaps) tap.requestData(this.input.subarray(0, n));
      this.input = this.input.subarray(n);
      if (this.body.done) {
        this.body = undefined;
        this.current = undefined;
        for (const tap of this.bodyTaps ?? []) tap.requestEnd();
        this.bodyTaps = undefined;
      }
    }
    return undefined;
  }

  /** One request head: ask the engine, then forward, hold or answer it; a promise while it holds. */
  private request(head: RequestHead, headBytes: Buffer): Promise<void> | undefined {
    const ws = head.upgrade === 'websocket';
    const meta: RequestMeta = { protocol: ws ? 'ws' : 'http', method: head.method, path: head.path, headers: head.headers };
    const { engine, state, signal } = this.host;
    const plan = ExchangePlan.of('http', engine.evaluateRequest(state, meta));
    for (const fault of plan.acted) this.host.countFault(fault);
    const requestId = head.headers['x-request-id'];
    const body = new BodyFramer(head.body, head.length);
    this.body = body.done ? undefined : body;
    const pending: PendingResponse = { method: head.method, faulted: !plan.empty, delayMs: plan.responseHoldMs, pacer: plan.rate === undefined ? undefined : new Pacer(plan.rate), upgrade: undefined, requestId };
    this.current = pending;
    const replaced = plan.replaced;
    if (replaced?.reset) {
      this.mode = 'closed';
      this.input = EMPTY;
      this.host.reset(`${replaced.by.rule}/${replaced.by.type.type}`);
      return undefined;
    }
    if (replaced) {
      this.forwarding = false;
      const answer = () => {
        if (signal.aborted) return;
        // The body is read and dropped; a client waiting for 100-continue never sends it, so close after.
        const closeAfter = !body.done && /100-continue/i.test(head.headers.expect ?? '');
        this.response.enqueue({ ...pending, synthetic: abortResponse(replaced.by, replaced.answer, { method: head.method, requestId }, closeAfter), closeAfter });
        this.host.countRequest(replaced.answer.status, true);
        if (closeAfter) this.mode = 'closed';
      };
      const afterMs = replaced.answer.afterMs ?? 0;
      if (afterMs > 0) return hold(afterMs, signal).then(answer);
      answer();
      return undefined;
    }
    this.forwarding = true;
    let bytes = headBytes;
    if (head.upgrade) {
      this.wsFaults = ws ? engine.messageFaults(state, meta) : [];
      pending.upgrade = this.wsFaults.length > 0 ? 'ws' : 'raw';
      // Messages are re-framed: no compression extension may be negotiated past faultline.
      if (pending.upgrade === 'ws') bytes = withoutExtensions(headBytes);
      this.mode = 'upgrading';
    }
    this.response.enqueue(pending);
    if (plan.taps.length > 0 && !head.upgrade) this.observe(plan.taps, head, body.done, pending);
    if (plan.requestHoldMs > 0) return hold(plan.requestHoldMs, signal).then(() => void (signal.aborted || this.push(bytes)));
    this.send(bytes);
    return undefined;
  }

  /** Mirror: the observers get the request as it goes upstream, and its response through `pending`. */
  private observe(taps: ExchangeTap[], head: RequestHead, ended: boolean, pending: PendingResponse): void {
    const { address, port } = this.host.state.meta.destination;
    const tapped = { protocol: 'http' as const, method: head.method, target: head.target, headers: head.headers, upstream: { host: address, port } };
    for (const tap of taps) {
      tap.request(tapped);
      if (ended) tap.requestEnd();
    }
    this.bodyTaps = ended ? undefined : taps;
    pending.taps = taps;
  }

  private protocolError(err: unknown, callback: TransformCallback): void {
    if (!(err instanceof HeadError)) return callback(err as Error);
    // A clear answer to the offending client, after the answers it is owed; then the connection ends.
    this.host.log.debug({ cause: err.message, status: err.status }, 'malformed request');
    this.mode = 'closed';
    this.input = EMPTY;
    const body = errorBody({ error: 'bad_request', message: err.message, code: err.status, retryable: false });
    const synthetic = http1Response(err.status, body, { close: true });
    // A body that broke after its head went upstream will never be answered: the 400 takes its place.
    const broken = this.body ? this.current : undefined;
    this.body = undefined;
    for (const tap of this.bodyTaps ?? []) tap.abort(err.message);
    this.bodyTaps = undefined;
    if (!broken || !this.response.replace(broken, synthetic)) {
      this.response.enqueue({ method: 'GET', synthetic, closeAfter: true, faulted: false, delayMs: 0, pacer: undefined, upgrade: undefined, requestId: undefined });
    }
    this.host.countRequest(err.status, false);
    // Whatever is still owed (an upstream waiting for the rest of a body), the connection ends soon.
    const { signal } = this.host;
    void hold(MALFORMED_CLOSE_MS, signal).then(() => signal.aborted || this.host.close('malformed request'));
    callback();
  }
}

function withoutExtensions(head: Buffer): Buffer {
  const text = head.toString('latin1');
  const stripped = text.replace(/\r\nsec-websocket-extensions:[^\r]*/gi, '');
  return stripped === text ? head : Buffer.from(stripped, 'latin1');
}
