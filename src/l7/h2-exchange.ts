import { Pacer } from '../faults/pacer.js';
import type { ExchangeTap } from '../faults/types.js';
import type { RequestMeta } from '../policy/match.js';
import { faultReply } from './error-response.js';
import type { ExchangePlan } from './exchange.js';
import { dataFrames, Flag, FrameType, H2, rstStream, type Frame } from './h2-frames.js';
import type { Block, Http2Relay } from './h2-relay.js';
import { statusOf } from './h2-relay.js';
import { hold } from './host.js';

/** A frame or header block an exchange holds, in the order it came. */
type Held = { block: Block } | { frame: Frame };

/** The DATA of a frame, without its padding. */
function dataOf(f: Frame): Buffer {
  if ((f.flags & Flag.Padded) === 0) return f.payload;
  return f.payload.subarray(1, Math.max(1, f.payload.length - (f.payload[0] as number)));
}

/** Pseudo headers left out, lower-case names (they are already) joined. */
function plainHeaders(fields: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    if (name.startsWith(':')) continue;
    const had = headers[name];
    headers[name] = had === undefined ? (fields[i + 1] as string) : `${had}, ${fields[i + 1]}`;
  }
  return headers;
}

/**
 * One HTTP/2 stream a fault acts on (or that an observer watches), as the relay carries it
 * out, in the exchange's one order: answered or reset by faultline (the request never goes
 * upstream), or its request held, then forwarded, and its response head held and its DATA
 * paced. Held frames wait here (their bytes counted against the relay's bound), every wait
 * ends with the stream or the connection, and observers get what passed as it passed.
 */
export class H2Exchange {
  /** The stream's id upstream, once it went there. */
  upstreamId: number | undefined;
  /** Answered or reset by faultline: nothing of it goes upstream. */
  owned = false;
  private clientEnded = false;
  private responseEnded = false;
  private responded = false;
  /** Frames of a held request, until it goes. */
  private requestQueue: Held[] | undefined;
  /** Frames of a held or paced response, until they go. */
  private readonly responseQueue: Held[] = [];
  private responseHeldUntil = 0;
  private pumping = false;
  private readonly pacer: Pacer | undefined;
  private readonly taps: ExchangeTap[];
  private done = false;
  private ender: AbortController | undefined;

  constructor(private readonly relay: Http2Relay, readonly id: number, private readonly meta: RequestMeta, private readonly plan: ExchangePlan) {
    this.pacer = plan.rate === undefined ? undefined : new Pacer(plan.rate);
    this.taps = plan.taps;
  }

  /** Aborted when the stream or the connection ends: what every wait of this stream listens to. */
  private get signal(): AbortSignal {
    if (!this.ender) {
      const ender = new AbortController();
      this.ender = ender;
      const { signal } = this.relay.host;
      if (signal.aborted || this.done) ender.abort();
      else signal.addEventListener('abort', () => ender.abort(), { once: true, signal: ender.signal });
    }
    return this.ender.signal;
  }

  /** The request's head arrived: answer, reset, hold or forward it. */
  start(block: Block): void {
    const { relay, plan } = this;
    this.clientEnded = block.endStream;
    const replaced = plan.replaced;
    if (replaced) {
      this.owned = true;
      relay.dropBlock(relay.up, block);
      if (replaced.reset) {
        relay.toClientFrames(rstStream(this.id, H2.INTERNAL_ERROR));
        return this.finish();
      }
      const afterMs = replaced.answer.afterMs ?? 0;
      if (afterMs <= 0) return this.answer();
      void hold(afterMs, this.signal).then(() => this.answer());
      return;
    }
    if (plan.requestHoldMs > 0) {
      relay.dropBlock(relay.up, block);
      this.requestQueue = [{ block }];
      void hold(plan.requestHoldMs, this.signal).then(() => this.release());
      return;
    }
    this.upstreamId = relay.ids.assign(this.id, relay.lastClientStream);
    relay.emitBlock(relay.up, block, this.upstreamId, true);
    this.tapRequest(block.endStream);
  }

  /** A faultline answer instead of the upstream's: HTTP status and body, or gRPC status trailers. */
  private answer(): void {
    if (this.done) return;
    const { relay, meta } = this;
    const replaced = this.plan.replaced;
    if (!replaced || replaced.reset) return;
    const reply = faultReply(replaced.by, replaced.answer, meta.headers['x-request-id']);
    const down = relay.down;
    if (meta.protocol === 'grpc') {
      const grpcStatus = replaced.answer.grpcStatus ?? httpToGrpc(replaced.answer.status);
      const message = replaced.answer.grpcMessage ?? `fault injected by ${reply.fault}`;
      relay.host.countRequest(200, true);
      relay.toClientFrames([
        ...relay.encodeFor(down, [':status', '200', 'content-type', 'application/grpc', 'x-faultline-fault', reply.fault], this.id, false),
        ...relay.encodeFor(down, ['grpc-status', String(grpcStatus), 'grpc-message', grpcMessage(message)], this.id, true),
      ]);
    } else {
      relay.host.countRequest(replaced.answer.status, true);
      const body = meta.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(reply.body);
      const head = relay.encodeFor(down, [':status', String(replaced.answer.status), 'content-type', reply.contentType, 'content-length', String(body.length), 'x-faultline-fault', reply.fault], this.id, body.length === 0);
      relay.toClientFrames(body.length === 0 ? head : [...head, ...dataFrames(this.id, body, true)], body.length);
    }
    this.responseEnded = true;
    // The request is not read to its end: the stream is over for the client too (RFC 9113 8.1).
    if (!this.clientEnded) relay.toClientFrames(rstStream(this.id, H2.NO_ERROR));
    this.finish();
  }

  /** A held request goes upstream now: its head re-encoded, then what came after it. */
  private release(): void {
    const queue = this.requestQueue;
    if (this.done || !queue) return;
    this.requestQueue = undefined;
    const { relay } = this;
    if (relay.upstreamGone) return this.refuse();
    const id = relay.ids.assign(this.id, relay.lastClientStream);
    this.upstreamId = id;
    this.tapRequest(false);
    for (const item of queue) {
      if ('block' in item) {
        relay.toUpstreamFrames(relay.encodeFor(relay.up, item.block.fields, id, item.block.endStream));
        continue;
      }
      const f = item.frame;
      if (f.type === FrameType.Data) {
        relay.held(-f.length);
        this.tapData(f);
      }
      f.head.writeUInt32BE(id, 5);
      relay.toUpstreamFrames([f.head, f.payload]);
    }
    if (this.clientEnded) this.tapEnd();
  }

  /** Observers get the request as it goes upstream. */
  private tapRequest(ended: boolean): void {
    if (this.taps.length === 0) return;
    const { meta } = this;
    const { address, port } = this.relay.host.state.meta.destination;
    const headers = plainHeaders(Object.entries(meta.headers).flat());
    if (meta.headers[':authority'] && headers.host === undefined) headers.host = meta.headers[':authority'];
    const head = { protocol: meta.protocol === 'grpc' ? ('grpc' as const) : ('http' as const), method: meta.method, target: meta.headers[':path'] ?? '/', headers, upstream: { host: address, port } };
    for (const tap of this.taps) tap.request(head);
    if (ended) this.tapEnd();
  }

  private tapData(f: Frame): void {
    const data = dataOf(f);
    if (data.length > 0) for (const tap of this.taps) tap.requestData(data);
  }

  private tapEnd(): void {
    for (const tap of this.taps) tap.requestEnd();
  }

  /** DATA from the client on this stream. */
  requestData(f: Frame): void {
    const { relay } = this;
    if (f.flags & Flag.EndStream) this.clientEnded = true;
    if (this.owned) {
      relay.dropClientData(f.length);
      if (this.clientEnded && this.responseEnded) this.finish();
      return;
    }
    if (this.requestQueue) {
      relay.held(f.length);
      this.requestQueue.push({ frame: f });
      return;
    }
    this.tapData(f);
    if (f.flags & Flag.EndStream) this.tapEnd();
    relay.pass(relay.up, f, this.upstreamId);
    this.endIfDone();
  }

  /** Trailers (a second header block) from the client. */
  requestTrailers(block: Block): void {
    const { relay } = this;
    if (block.endStream) this.clientEnded = true;
    if (this.owned) return relay.dropBlock(relay.up, block);
    if (this.requestQueue) {
      relay.dropBlock(relay.up, block);
      this.requestQueue.push({ block });
      return;
    }
    relay.emitBlock(relay.up, block, this.upstreamId as number, true);
    if (block.endStream) this.tapEnd();
    this.endIfDone();
  }

  /** WINDOW_UPDATE from the client on this stream. */
  clientFrame(f: Frame): void {
    if (this.owned) return;
    if (this.requestQueue) return void this.requestQueue.push({ frame: f });
    this.relay.pass(this.relay.up, f, this.upstreamId);
  }

  /** WINDOW_UPDATE from the upstream on this stream. */
  upstreamFrame(f: Frame): void {
    this.relay.pass(this.relay.down, f, this.id);
  }

  /** RST_STREAM from either side: passed on (unless the stream is faultline's), and the stream is over. */
  reset(fromClient: boolean, f: Frame): void {
    const { relay } = this;
    for (const tap of this.taps) tap.abort(fromClient ? 'the client reset the stream' : 'the upstream reset the stream');
    if (fromClient) {
      if (!this.owned && !this.requestQueue) relay.pass(relay.up, f, this.upstreamId);
    } else {
      relay.pass(relay.down, f, this.id);
    }
    this.finish();
  }

  /** The upstream sent GOAWAY with `last`: a stream it will not process is refused (the client may retry it). */
  upstreamGoingAway(last: number): void {
    if (this.owned) return;
    if (this.requestQueue || (this.upstreamId !== undefined && this.upstreamId > last)) this.refuse();
  }

  private refuse(): void {
    for (const tap of this.taps) tap.abort('the upstream is going away');
    this.relay.toClientFrames(rstStream(this.id, H2.REFUSED_STREAM));
    this.finish();
  }

  /** A header block from the upstream on this stream: the response head, an interim one, or trailers. */
  responseBlock(block: Block): void {
    const status = statusOf(block.fields);
    const { relay, plan } = this;
    if (block.endStream) this.responseEnded = true;
    if (status >= 200 && !this.responded) {
      this.responded = true;
      relay.host.countRequest(status, !plan.empty);
      if (plan.responseHoldMs > 0) this.responseHeldUntil = performance.now() + plan.responseHoldMs;
      for (const tap of this.taps) tap.response({ status, headers: plainHeaders(block.fields) });
      if (block.endStream) for (const tap of this.taps) tap.responseEnd(undefined);
    } else if (status === 0 && block.endStream) {
      const trailers = plainHeaders(block.fields);
      for (const tap of this.taps) tap.responseEnd(trailers);
    }
    if (this.responseHeldUntil > 0 || this.responseQueue.length > 0) {
      relay.dropBlock(relay.down, block);
      this.responseQueue.push({ block });
      return void this.pump();
    }
    relay.emitBlock(relay.down, block, this.id, true);
    this.endIfDone();
  }

  /** DATA from the upstream on this stream. */
  responseData(f: Frame): void {
    if (f.flags & Flag.EndStream) this.responseEnded = true;
    const data = dataOf(f);
    if (data.length > 0) for (const tap of this.taps) tap.responseData(data);
    if (f.flags & Flag.EndStream) for (const tap of this.taps) tap.responseEnd(undefined);
    if (this.pacer || this.responseHeldUntil > 0 || this.responseQueue.length > 0) {
      this.relay.held(f.length);
      this.responseQueue.push({ frame: f });
      return void this.pump();
    }
    this.relay.pass(this.relay.down, f, this.id);
    this.endIfDone();
  }

  /** Sends the held response on: after its hold, its DATA at the pacer's rate. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const { relay } = this;
    const signal = this.signal;
    while (this.responseQueue.length > 0 && !signal.aborted) {
      const wait = this.responseHeldUntil - performance.now();
      if (wait > 0) await hold(wait, signal);
      if (signal.aborted) break;
      const item = this.responseQueue.shift() as Held;
      if ('block' in item) {
        relay.toClientFrames(relay.encodeFor(relay.down, item.block.fields, this.id, item.block.endStream));
        continue;
      }
      const f = item.frame;
      relay.held(-f.length);
      if (!this.pacer) {
        f.head.writeUInt32BE(this.id, 5);
        relay.toClientFrames([f.head, f.payload]);
        continue;
      }
      // Paced in slices of the pacer's size; padding is not sent, so its window goes back upstream.
      const data = dataOf(f);
      relay.giveBackToUpstream(f.length - data.length);
      const parts = dataFrames(this.id, data, (f.flags & Flag.EndStream) !== 0, this.pacer.slice);
      for (const part of parts) {
        await hold(this.pacer.waitMs(), signal);
        if (signal.aborted) break;
        this.pacer.sent(part.length - 9);
        relay.toClientFrames(part);
      }
    }
    this.pumping = false;
    if (signal.aborted) return;
    this.responseHeldUntil = 0;
    this.endIfDone();
  }

  private endIfDone(): void {
    if (this.clientEnded && this.responseEnded && this.responseQueue.length === 0 && !this.pumping) this.finish();
  }

  /** The stream is over: waits end, held bytes are given back, the relay forgets it. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.ender?.abort();
    const { relay } = this;
    let toClient = 0;
    let toUpstream = 0;
    for (const item of this.requestQueue ?? []) if ('frame' in item && item.frame.type === FrameType.Data) toClient += item.frame.length;
    for (const item of this.responseQueue) if ('frame' in item) toUpstream += item.frame.length;
    this.requestQueue = undefined;
    this.responseQueue.length = 0;
    relay.held(-(toClient + toUpstream));
    relay.dropClientData(toClient);
    relay.giveBackToUpstream(toUpstream);
    relay.closed(this);
  }
}

/** grpc-message percent-encoding (gRPC over HTTP/2): every byte outside 0x20-0x7E, and '%'. */
export function grpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message)) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The gRPC status an HTTP status maps to (gRPC's "HTTP to gRPC status code mapping"). */
export function httpToGrpc(status: number): number {
  const map: Record<number, number> = { 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14 };
  return map[status] ?? 2;
}
