import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Pool } from 'undici';
import { ShadowError } from '../errors.js';
import type { BodyCopy } from './body.js';

/** A request faultline sends (to the shadow, or a second time to the primary). */
export interface OutgoingRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-case names, without hop-by-hop headers; `host` is the authority. */
  readonly headers: Record<string, string>;
  readonly body: Buffer | undefined;
}

/** An answer's head and trailers; its body went to the sink. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string> | undefined;
}

/** Connections per shadow origin (HTTP/1.1): requests beyond wait in undici's queue, bounded by the mirror's caps. */
const POOL_CONNECTIONS = 64;

/** Hop-by-hop headers (RFC 9110 7.6.1) and what faultline must not copy onto a request it makes. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'http2-settings', 'content-length']);

/** The primary request's headers as a request faultline sends may carry them: hop-by-hop ones out, `te: trailers` kept (gRPC needs it). */
export function forwardableHeaders(headers: Readonly<Record<string, string>>, extra: Record<string, string>): Record<string, string> {
  const named = new Set((headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name) && !named.has(name) && !name.startsWith(':')) out[name] = value;
  if (/(^|,)\s*trailers\s*(,|$)/i.test(headers.te ?? '')) out.te = 'trailers';
  return { ...out, ...extra };
}

function flatten(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/**
 * The connections faultline's own requests go out on, pooled per origin and shared by every
 * connection and rule of the sidecar: undici Pools for HTTP/1.1 (http and https, verified
 * against the system roots), one node:http2 session per origin for gRPC (undici 7's HTTP/2
 * client reports a stream's end before its trailers, which would lose grpc-status).
 */
export class OutgoingPools {
  private readonly pools = new Map<string, Pool>();
  private readonly sessions = new Map<string, ClientHttp2Session>();

  /**
   * Sends `request` to `origin` and feeds its answer's body to `sink`; rejects on any failure
   * (refused, reset, `signal` aborted by the timeout). HTTP/2 (gRPC) when `h2`.
   */
  async send(origin: string, h2: boolean, request: OutgoingRequest, signal: AbortSignal, sink: BodyCopy): Promise<Reply> {
    return h2 ? this.sendH2(origin, request, signal, sink) : this.sendH1(origin, request, signal, sink);
  }

  private async sendH1(origin: string, request: OutgoingRequest, signal: AbortSignal, sink: BodyCopy): Promise<Reply> {
    let pool = this.pools.get(origin);
    if (!pool) this.pools.set(origin, (pool = new Pool(origin, { connections: POOL_CONNECTIONS, pipelining: 1 })));
    const res = await pool.request({ method: request.method, path: request.path, headers: request.headers, body: request.body, signal });
    for await (const chunk of res.body) sink.update(chunk as Buffer);
    return { status: res.statusCode, headers: flatten(res.headers), trailers: undefined };
  }

  private session(origin: string): ClientHttp2Session {
    const current = this.sessions.get(origin);
    if (current && !current.closed && !current.destroyed) return current;
    const session = connect(origin);
    session.on('error', () => {});
    const forget = () => this.sessions.get(origin) === session && this.sessions.delete(origin);
    session.once('close', forget);
    session.once('goaway', () => {
      forget();
      session.close();
    });
    session.unref();
    this.sessions.set(origin, session);
    return session;
  }

  private sendH2(origin: string, request: OutgoingRequest, signal: AbortSignal, sink: BodyCopy): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const { host, ...rest } = request.headers;
      const headers: OutgoingHttpHeaders = { ...rest, [constants.HTTP2_HEADER_METHOD]: request.method, [constants.HTTP2_HEADER_PATH]: request.path };
      if (host) headers[constants.HTTP2_HEADER_AUTHORITY] = host;
      let stream;
      try {
        stream = this.session(origin).request(headers, { signal });
      } catch (err) {
        return reject(new ShadowError(`HTTP/2 request to ${origin} failed: ${(err as Error).message}`, { cause: err }));
      }
      let reply: Reply | undefined;
      stream.once('response', (h) => (reply = { status: Number(h[constants.HTTP2_HEADER_STATUS]), headers: flatten(h), trailers: undefined }));
      stream.on('data', (chunk: Buffer) => sink.update(chunk));
      stream.once('trailers', (t) => reply && (reply.trailers = flatten(t)));
      stream.once('end', () => (reply ? resolve(reply) : reject(new ShadowError(`${origin} ended the stream without an answer`))));
      stream.once('error', (err) => reject(new ShadowError(`HTTP/2 stream to ${origin} failed: ${err.message}`, { cause: err })));
      stream.once('close', () => reject(new ShadowError(`${origin} closed the stream (code ${stream.rstCode})`)));
      stream.end(request.body);
    });
  }

  /** Closes the pools and sessions of origins not in `keep`. */
  prune(keep: ReadonlySet<string>): void {
    for (const [origin, pool] of this.pools) if (!keep.has(origin)) (this.pools.delete(origin), void pool.close().catch(() => {}));
    for (const [origin, session] of this.sessions) if (!keep.has(origin)) (this.sessions.delete(origin), session.close());
  }

  /** Closes everything (the sidecar stops). */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const session of this.sessions.values()) session.destroy();
    this.sessions.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
