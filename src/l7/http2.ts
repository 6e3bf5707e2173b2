import {
  connect,
  constants,
  createServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { Transform, type Duplex, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { Pacer } from '../faults/pacer.js';
import type { Answer, ExchangeTap } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';
import type { RequestMeta } from '../policy/match.js';
import { errorBody, faultReply, type ErrorBody } from './error-response.js';
import { ExchangePlan } from './exchange.js';
import { duplexPair } from './duplex-pair.js';
import { hold, paced, type L7Host } from './host.js';

/** What the HTTP/2 proxy needs of its connection: the L7 host, and the fault chain's attachment. */
export interface Http2Host extends L7Host {
  /** Starts relaying through the connection's fault chain, with `clientSide` in the client's place. */
  attach(toUpstream: Writable, fromUpstream: Readable, clientSide: Duplex): void;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;
/** gRPC status UNAVAILABLE: what a stream gets when the upstream connection is gone. */
const GRPC_UNAVAILABLE = 14;

/**
 * HTTP/2 cleartext (prior knowledge) and gRPC, per stream. HPACK state lives on each side of
 * the connection, so the connection is terminated: node:http2 serves the client's socket and a
 * client session speaks to the upstream over the already dialled socket. Each stream is
 * matched on its own (method, :path, headers; gRPC by content-type), so a fault on one stream
 * leaves the others untouched; streams no rule takes are relayed as they came (headers, data,
 * trailers). A gRPC abort answers HTTP 200 with grpc-status/grpc-message trailers. Invalid
 * frames end the client's session with GOAWAY(PROTOCOL_ERROR); nothing else is affected.
 */
export function proxyHttp2(host: Http2Host, client: Socket, upstream: Socket): void {
  const server = createServer({ settings: { enablePush: false } });
  const origin = `http://${upstream.remoteAddress?.includes(':') ? `[${upstream.remoteAddress}]` : upstream.remoteAddress}:${upstream.remotePort}`;
  // The session speaks through an in-memory pair whose other end the connection's fault chain
  // carries to the upstream socket: connection faults (latency, bandwidth, reset...) apply to
  // h2c and gRPC as they do to HTTP/1.1. Bytes the upstream sent while the client was classified
  // (its SETTINGS) wait in the socket's buffer, and the chain reads them first.
  const [sessionEnd, chainEnd] = duplexPair();
  const session: ClientHttp2Session = connect(origin, { createConnection: () => sessionEnd, settings: { enablePush: false } });
  session.on('error', (err) => host.log.debug({ cause: err.message }, 'upstream HTTP/2 session failed'));
  // The session owns neither socket (the pair stands between): when it closes, both go.
  session.once('close', () => {
    client.destroy();
    upstream.destroy();
  });
  // HTTP/2 has no half-closed connection: a client's FIN without GOAWAY (a killed process) ends
  // it all, or the upstream (a node:http2 server never closes first) would keep it forever.
  client.once('end', () => {
    client.destroy();
    session.destroy();
    upstream.destroy();
  });
  server.on('sessionError', (err) => host.log.debug({ cause: err.message }, 'client HTTP/2 session failed'));
  server.on('session', (clientSession) => {
    clientSession.on('error', () => {});
    clientSession.once('close', () => session.destroy());
    // The upstream is going away (GOAWAY): so does this connection, gracefully, so that the
    // client opens its next streams on a new connection instead of seeing them refused.
    session.once('goaway', () => clientSession.close());
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => void relayStream(host, session, stream, headers).catch((err: Error) => {
    host.log.debug({ cause: err.message }, 'HTTP/2 stream failed');
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }));
  server.emit('connection', client);
  // After the server took the client socket: attaching resumes it, and its put-back bytes must reach the session.
  host.attach(upstream, upstream, chainEnd);
  client.resume();
}

function requestMeta(headers: IncomingHttpHeaders): RequestMeta {
  const path = String(headers[':path'] ?? '/');
  const q = path.indexOf('?');
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : String(value);
  const grpc = /^application\/grpc/.test(flat['content-type'] ?? '');
  return { protocol: grpc ? 'grpc' : 'http', method: String(headers[':method'] ?? 'GET'), path: q < 0 ? path : path.slice(0, q), headers: flat };
}

/** A signal aborted when `stream` closes, made only for streams that wait (most never do). */
function streamSignal(host: L7Host, stream: ServerHttp2Stream): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  stream.once('close', abort);
  if (stream.closed) abort();
  host.signal.addEventListener('abort', abort, { once: true });
  stream.once('close', () => host.signal.removeEventListener('abort', abort));
  return controller.signal;
}

async function relayStream(host: L7Host, session: ClientHttp2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
  stream.on('error', () => {});
  const meta = requestMeta(headers);
  const plan = ExchangePlan.of(meta.protocol === 'grpc' ? 'grpc' : 'http', host.engine.evaluateRequest(host.state, meta));
  for (const fault of plan.acted) host.countFault(fault);
  const signal = plan.empty ? host.signal : streamSignal(host, stream);
  const replaced = plan.replaced;
  if (replaced?.reset) return void stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  if (replaced) {
    await hold(replaced.answer.afterMs ?? 0, signal);
    if (stream.destroyed || stream.closed) return;
    return answerStream(host, stream, meta, replaced.by, replaced.answer);
  }
  await hold(plan.requestHoldMs, signal);
  if (stream.destroyed || stream.closed) return;
  if (session.destroyed || session.closed) return unavailable(host, stream, meta, 'the upstream connection is closed');

  const { [constants.HTTP2_HEADER_CONNECTION]: _c, ...forward } = headers as OutgoingHttpHeaders;
  let up: ClientHttp2Stream;
  try {
    up = session.request(forward, { endStream: stream.readableEnded });
  } catch {
    // The upstream session stopped taking streams (a GOAWAY raced this one): the client may
    // retry a refused stream, as RFC 9113 8.7 allows.
    return void stream.close(NGHTTP2_REFUSED_STREAM);
  }
  up.on('error', () => {});
  stream.pipe(up);
  const observed = plan.taps.length > 0 ? observe(host, plan.taps, stream, up, meta, headers) : undefined;
  stream.once('close', () => {
    if (!up.closed) up.close(stream.rstCode ?? NGHTTP2_CANCEL);
  });
  const wantsTrailers = meta.protocol === 'grpc' || /trailers/.test(meta.headers.te ?? '');
  let trailers: OutgoingHttpHeaders | undefined;
  up.on('trailers', (t) => (trailers = t as OutgoingHttpHeaders));
  up.once('close', () => {
    if (stream.headersSent || stream.closed) return;
    if (up.rstCode && up.rstCode !== constants.NGHTTP2_NO_ERROR) stream.close(up.rstCode);
    else unavailable(host, stream, meta, 'the upstream closed the stream before answering');
  });
  up.once('response', async (responseHeaders, flags) => {
    await hold(plan.responseHoldMs, signal);
    if (stream.destroyed || stream.closed) return;
    const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const status = Number(responseHeaders[HTTP2_HEADER_STATUS]);
    host.countRequest(status, !plan.empty);
    stream.respond(responseHeaders as OutgoingHttpHeaders, { endStream, waitForTrailers: wantsTrailers && !endStream });
    if (endStream) return;
    stream.once('wantTrailers', () => (trailers ? stream.sendTrailers(trailers) : stream.close()));
    (plan.rate === undefined ? up : up.pipe(new PacedStream(new Pacer(plan.rate), signal))).pipe(stream);
    observed?.piped();
  });
}

/**
 * Mirror: the observers get the request and the upstream's answer as they pass (listeners
 * beside the pipes, which keep flow control), and `abort` if the stream ends before the answer did.
 */
function observe(host: L7Host, taps: ExchangeTap[], stream: ServerHttp2Stream, up: ClientHttp2Stream, meta: RequestMeta, headers: IncomingHttpHeaders): { piped(): void } {
  const { address, port } = host.state.meta.destination;
  const { ':authority': authority, ...rest } = meta.headers;
  const flat = Object.fromEntries(Object.entries(rest).filter(([name]) => !name.startsWith(':')));
  if (authority && flat.host === undefined) flat.host = authority;
  const target = String(headers[':path'] ?? '/');
  const protocol = meta.protocol === 'grpc' ? 'grpc' : 'http';
  for (const tap of taps) tap.request({ protocol, method: meta.method, target, headers: flat, upstream: { host: address, port } });
  const requestEnded = () => taps.forEach((tap) => tap.requestEnd());
  if (stream.readableEnded) requestEnded();
  else {
    stream.on('data', (chunk: Buffer) => taps.forEach((tap) => tap.requestData(chunk)));
    stream.once('end', requestEnded);
  }
  let trailers: Record<string, string> | undefined;
  let complete = false;
  up.once('response', (h, flags) => {
    const responseHeaders = Object.fromEntries(Object.entries(h).filter(([name]) => !name.startsWith(':')).map(([name, v]) => [name, Array.isArray(v) ? v.join(', ') : String(v)]));
    for (const tap of taps) tap.response({ status: Number(h[HTTP2_HEADER_STATUS]), headers: responseHeaders });
    if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) (complete = true), taps.forEach((tap) => tap.responseEnd(undefined));
  });
  let ended = false;
  up.once('trailers', (t) => (trailers = Object.fromEntries(Object.entries(t).map(([name, v]) => [name, String(v)]))));
  up.once('end', () => (ended = true));
  // 'close' comes after both the trailers and the end, or alone when the stream was cut.
  up.once('close', () => complete || ((complete = true), taps.forEach((tap) => (ended ? tap.responseEnd(trailers) : tap.abort('the upstream stream closed before its end')))));
  // Only once the client's pipe is in place: a 'data' listener before it would start the flow without it.
  return { piped: () => void up.on('data', (chunk: Buffer) => taps.forEach((tap) => tap.responseData(chunk))) };
}

/** A fault answers the stream: HTTP status and body, or for gRPC HTTP 200 with grpc-status trailers. */
function answerStream(host: L7Host, stream: ServerHttp2Stream, meta: RequestMeta, fault: CompiledFault, answer: Answer): void {
  stream.resume();
  const reply = faultReply(fault, answer, meta.headers['x-request-id']);
  if (meta.protocol === 'grpc') {
    const grpcStatus = answer.grpcStatus ?? httpToGrpc(answer.status);
    const message = answer.grpcMessage ?? `fault injected by ${reply.fault}`;
    host.countRequest(200, true);
    stream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'x-faultline-fault': reply.fault }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(grpcStatus), 'grpc-message': grpcMessage(message) }));
    stream.end();
    return;
  }
  host.countRequest(answer.status, true);
  stream.respond({ [HTTP2_HEADER_STATUS]: answer.status, 'content-type': reply.contentType, 'x-faultline-fault': reply.fault });
  stream.end(meta.method === 'HEAD' ? undefined : reply.body);
}

/** A real upstream failure on one stream: 502 in the SPEC's shape, or gRPC UNAVAILABLE. */
function unavailable(host: L7Host, stream: ServerHttp2Stream, meta: RequestMeta, message: string): void {
  if (stream.headersSent || stream.destroyed) return;
  stream.resume();
  if (meta.protocol === 'grpc') {
    host.countRequest(200, false);
    stream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': String(GRPC_UNAVAILABLE), 'grpc-message': grpcMessage(message) }, { endStream: true });
    return;
  }
  host.countRequest(502, false);
  stream.respond({ [HTTP2_HEADER_STATUS]: 502, 'content-type': 'application/json' });
  stream.end(JSON.stringify(errorBody({ error: 'upstream_unavailable', message, code: 502, retryable: true, requestId: meta.headers['x-request-id'] })));
}

/**
 * No upstream to relay to (unreachable, or its TLS failed): every stream the client opens is
 * answered with `body`'s status in the SPEC's shape (gRPC: 14 UNAVAILABLE with its message),
 * then the session closes gracefully.
 */
export function answerHttp2(host: L7Host, client: Socket, body: ErrorBody): void {
  const server = createServer({ settings: { enablePush: false } });
  server.on('session', (session) => {
    session.on('error', () => {});
    session.once('close', () => client.destroy());
    // One answer is enough to tell the client: GOAWAY once the first stream is answered.
    session.once('stream', () => setImmediate(() => session.close()));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    stream.on('error', () => {});
    const meta = requestMeta(headers);
    stream.resume();
    if (meta.protocol === 'grpc') {
      host.countRequest(200, false);
      stream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': String(GRPC_UNAVAILABLE), 'grpc-message': grpcMessage(body.message) }, { endStream: true });
      return;
    }
    host.countRequest(body.code, false);
    stream.respond({ [HTTP2_HEADER_STATUS]: body.code, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ ...body, requestId: meta.headers['x-request-id'] ?? body.requestId }));
  });
  server.emit('connection', client);
  client.resume();
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

/** A response body paced through the shared Pacer (http_throttle on HTTP/2 and gRPC). */
class PacedStream extends Transform {
  constructor(private readonly pacer: Pacer, private readonly signal: AbortSignal) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    paced(this.pacer, chunk, (part) => this.push(part), this.signal).then(() => callback(), callback);
  }
}
