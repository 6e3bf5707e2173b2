import type { TransformCallback } from 'node:stream';
import type { Pacer } from '../faults/pacer.js';
import type { ExchangeTap } from '../faults/types.js';
import { errorBody, http1Response } from './error-response.js';
import { BodyFramer, checkLineBreaks, HeadError, headEnd, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from './http1-head.js';
import { EMPTY, Http1Framer } from './http1-framer.js';
import { hold, paced, type L7Host } from './host.js';


/** A request sent (or answered by faultline), waiting for its turn on the response side. */
export interface PendingResponse {
  method: string;
  /** Answered by faultline: these bytes go to the client in the request's turn. */
  synthetic?: Buffer | undefined;
  /** Close the connection after this response (a protocol error, an abort that left a body unread). */
  closeAfter?: boolean;
  faulted: boolean;
  delayMs: number;
  /** http_throttle: the response's bytes go out at this pace. */
  pacer: Pacer | undefined;
  /** An Upgrade request: 101 switches the connection to `ws` framing or a raw pipe. */
  upgrade: 'ws' | 'raw' | undefined;
  requestId: string | undefined;
  /** Observers (mirror): they get the response as it passes. */
  taps?: ExchangeTap[] | undefined;
}

/**
 * The upstream→client half of HTTP/1.1 inspection: frames responses (heads parsed, bodies by
 * Content-Length, chunked or close-delimited; HEAD, 1xx, 204 and 304 without body) to pair them
 * with requests in order, so that pipelined requests answered by faultline keep their place.
 * Response bytes are passed on as they came, unless a fault delays or throttles them.
 */
export class Http1ResponseFramer extends Http1Framer {
  private readonly queue: PendingResponse[] = [];
  private mode: 'http' | 'raw' | 'ws' | 'closed' = 'http';
  /** Set by the request side: what to do once a 101 arrives (or does not). */
  onUpgrade: ((mode: 'ws' | 'raw' | undefined, pending: PendingResponse) => void) | undefined;

  constructor(host: L7Host) {
    super(host, 'downstream');
  }

  /** Adds a request's place in line; synthetic answers at the head of the line go out at once. */
  enqueue(pending: PendingResponse): void {
    this.queue.push(pending);
    this.flushSynthetic();
  }

  /**
   * A request broke (a malformed body after its head went upstream): `synthetic` answers it in
   * its turn and the connection closes after. False when its response has already begun.
   */
  replace(pending: PendingResponse, synthetic: Buffer): boolean {
    const at = this.queue.indexOf(pending);
    if (at < 0 || (at === 0 && this.body)) return false;
    pending.synthetic = synthetic;
    pending.closeAfter = true;
    this.queue.length = at + 1;
    this.flushSynthetic();
    return true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.mode === 'raw') return callback(null, chunk);
    if (this.mode === 'ws') return this.wsInput(chunk, callback);
    if (this.mode === 'closed' || this.readableEnded) return callback();
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.pump(callback, this.onFramingError);
  }

  private readonly onFramingError = (err: unknown, callback: TransformCallback) => this.upstreamError(err, callback);

  override _flush(callback: TransformCallback): void {
    if (this.mode === 'http') {
      // The upstream closed. A close-delimited body ends here (a cut one cannot be mended);
      // requests it never answered get a 502 in the SPEC's shape, in their turn.
      if (this.body) {
        const open = this.queue.shift();
        const ended = this.body.untilClose;
        for (const tap of open?.taps ?? []) ended ? tap.responseEnd(undefined) : tap.abort('the upstream closed the connection mid-body');
      }
      this.body = undefined;
      for (const pending of this.queue) {
        for (const tap of pending.taps ?? []) tap.abort('the upstream closed the connection');
        if (pending.synthetic) continue;
        pending.synthetic = this.unavailable(pending, 'the upstream closed the connection before answering');
        this.host.countRequest(502, false);
      }
      this.flushSynthetic();
    }
    callback();
  }

  private unavailable(pending: PendingResponse, message: string): Buffer {
    return http1Response(502, errorBody({ error: 'upstream_unavailable', message, code: 502, retryable: true, requestId: pending.requestId }), { close: true, head: pending.method === 'HEAD' });
  }

  private flushSynthetic(): void {
    while (this.queue[0]?.synthetic && this.body === undefined) {
      this.flushOut();
      const pending = this.queue.shift() as PendingResponse;
      this.push(pending.synthetic);
      if (pending.closeAfter) {
        this.mode = 'closed';
        this.queue.length = 0;
        this.push(null);
        return;
      }
    }
  }

  protected frame(): Promise<void> | undefined {
    for (;;) {
      this.flushSynthetic();
      if (this.input.length === 0 || this.readableEnded) return undefined;
      if (this.mode !== 'http') {
        const rest = this.input;
        this.input = EMPTY;
        this.flushOut();
        if (this.mode === 'raw') this.push(rest);
        else if (this.mode === 'ws') return new Promise<void>((resolve) => this.wsInput(rest, resolve));
        return undefined;
      }
      const pending = this.queue[0];
      if (!pending) {
        // Bytes no request asked for (a 408 before closing): passed on as they are.
        this.send(this.input);
        this.input = EMPTY;
        return undefined;
      }
      if (!this.body) {
        const end = headEnd(this.input);
        if (end < 0) {
          if (this.input.length > MAX_HEAD_BYTES * 4) throw new HeadError(502, 'response head too large');
          checkLineBreaks(this.input, 502);
          return undefined;
        }
        const head = parseResponseHead(this.input.subarray(0, end), pending.method);
        const headBytes = this.input.subarray(0, end);
        this.input = this.input.subarray(end);
        // A held or paced head waits, then framing goes on from the head's end.
        if ((pending.delayMs > 0 && head.status >= 200) || pending.pacer) return this.slowHead(head, headBytes, pending);
        this.send(headBytes);
        this.headSent(head, pending);
        continue;
      }
      const body = this.body;
      const n = body.consume(this.input);
      const part = this.input.subarray(0, n);
      this.input = this.input.subarray(n);
      if (n > 0) for (const tap of pending.taps ?? []) tap.responseData(part);
      if (n > 0 && pending.pacer) return this.paced(part, pending.pacer).then(() => void this.bodyPart(body, pending));
      if (n > 0) this.send(part);
      if (!this.bodyPart(body, pending)) return undefined;
    }
  }

  /** http_delay (response phase) and http_throttle: the head waits its turn. */
  private async slowHead(head: ResponseHead, headBytes: Buffer, pending: PendingResponse): Promise<void> {
    if (pending.delayMs > 0 && head.status >= 200) {
      this.flushOut();
      await hold(pending.delayMs, this.host.signal);
    }
    if (pending.pacer) await this.paced(headBytes, pending.pacer);
    else this.send(headBytes);
    this.headSent(head, pending);
  }

  /** A response head went to the client: what it means for the connection and the body after it. */
  private headSent(head: ResponseHead, pending: PendingResponse): void {
    if (head.status === 101 && pending.upgrade) {
      this.queue.shift();
      this.mode = pending.upgrade;
      this.host.countRequest(101, pending.faulted);
      this.onUpgrade?.(pending.upgrade, pending);
      return;
    }
    if (head.status < 200) return;
    if (pending.upgrade) this.onUpgrade?.(undefined, pending);
    this.host.countRequest(head.status, pending.faulted);
    this.body = new BodyFramer(head.body, head.length);
    for (const tap of pending.taps ?? []) tap.response({ status: head.status, headers: head.headers });
  }

  /** After a part of `body` went: true when the body is complete (the next response may follow). */
  private bodyPart(body: BodyFramer, pending: PendingResponse): boolean {
    if (!body.done) return false;
    this.body = undefined;
    this.queue.shift();
    for (const tap of pending.taps ?? []) tap.responseEnd(undefined);
    return true;
  }

  private async paced(bytes: Buffer, pacer: Pacer): Promise<void> {
    this.flushOut();
    await paced(pacer, bytes, (part) => this.push(part), this.host.signal);
  }

  private upstreamError(err: unknown, callback: TransformCallback): void {
    if (!(err instanceof HeadError)) return callback(err as Error);
    // The upstream does not speak HTTP/1.x we can frame: the client gets a 502 and the connection ends.
    this.host.log.warn({ cause: err.message }, 'malformed upstream response: 502 to the client');
    const pending = this.queue[0];
    for (const tap of pending?.taps ?? []) tap.abort(`malformed upstream response: ${err.message}`);
    if (!this.body && pending) {
      this.push(this.unavailable(pending, `the upstream sent a malformed response: ${err.message}`));
      this.host.countRequest(502, false);
    }
    this.mode = 'closed';
    this.queue.length = 0;
    this.push(null);
    callback();
  }
}
