import type { Socket } from 'node:net';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import type { Inspection } from '../engine/engine.js';
import type { ConnectionMeta } from '../policy/match.js';
import type { Cleartext, TlsFront } from '../tls/front.js';
import { classify, MAX_PEEK_BYTES, type FirstBytes, type TlsHello } from './detect.js';
import { errorBody, http1Response } from './error-response.js';
import type { L7Host } from './host.js';
import { answerHttp2, proxyHttp2 } from './http2.js';
import { Http1RequestFramer } from './http1-request.js';
import { Http1ResponseFramer } from './http1-response.js';
import { WsRelay } from './websocket.js';

/** How long a client that sent part of its first bytes may take to finish them. */
const PEEK_TIMEOUT_MS = 2000;

/** A frame header of type SETTINGS (4) on stream 0: how an HTTP/2 server opens. */
function isH2Settings(chunk: Buffer): boolean {
  return chunk.length >= 9 && chunk[3] === 0x04 && (chunk.readUInt32BE(5) & 0x7fffffff) === 0;
}

/** What the inspector needs from its connection, beyond what the L7 code needs. */
export interface InspectorHost extends L7Host {
  readonly client: Socket;
  readonly meta: ConnectionMeta;
  /**
   * Starts relaying: client → toUpstream, fromUpstream → client, through the connection's
   * Links (fault chains); `clientSide` stands in for the client socket (HTTP/2's session end).
   */
  attach(toUpstream: Writable, fromUpstream: Readable, clientSide?: Duplex): void;
  /**
   * The connection is TLS (with this server name, if it sent one): admission and connection
   * faults are decided again. False when that refused the connection (it is reset).
   */
  learnedSni(name: string | undefined): boolean;
  /** Dials the upstream unless it is dialled already (it waits for the ClientHello where handshake faults could apply). */
  dial(): void;
  /** The TLS front (src/tls/) that takes a TLS connection's handshake faults and termination, where the sidecar has one. */
  tlsFront?(hello: TlsHello): TlsFront;
  /** What the first bytes showed (once per connection), for the connection's `protocol`. */
  classified(kind: FirstBytes['kind']): void;
}

/**
 * Classifies a connection that an L7 or SNI rule could apply to, from its first bytes, then
 * wires it: HTTP/1.x through the head-only framers, h2c through an HTTP/2 proxy, TLS (server
 * name read, bytes never decrypted) and everything else as a plain pipe. The upstream is dialled
 * meanwhile; if it speaks first, the connection is a plain pipe at once. Every byte read while
 * classifying is put back (unshift) before relaying starts.
 */
export class ConnectionInspector {
  private readonly chunks: Buffer[] = [];
  private peeked = 0;
  private kind: FirstBytes | undefined;
  private upstream: Socket | undefined;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  /** The client half-closed before its first bytes told what it speaks. */
  private clientEnded = false;
  /** A TLS connection's front, and whether its handshake faults are done with (proceed waits for them). */
  private front: TlsFront | undefined;
  private frontPending = false;
  private readonly onData = (chunk: Buffer) => this.onClientData(chunk);
  private readonly onEnd = () => {
    this.clientEnded = true;
    this.decide({ kind: 'other' });
  };

  constructor(private readonly host: InspectorHost, private readonly inspection: Inspection) {
    host.client.on('data', this.onData);
    host.client.once('end', this.onEnd);
    host.client.resume();
    // The upstream waits for the ClientHello (handshake faults): a client that says nothing still gets it.
    if (inspection.handshake) this.timer = setTimeout(() => this.decide({ kind: 'other' }), PEEK_TIMEOUT_MS);
  }

  /** The upstream connected. */
  upstreamReady(upstream: Socket): void {
    this.upstream = upstream;
    if (this.kind) return this.proceed();
    // A server that speaks first (SMTP, MySQL...): a plain pipe.
    const onUpstreamData = (chunk: Buffer) => {
      upstream.pause();
      upstream.unshift(chunk);
      // An HTTP/2 server sends its SETTINGS at once, though its client speaks first: keep waiting.
      if (this.inspection.requests && isH2Settings(chunk)) {
        this.timer ??= setTimeout(() => this.decide({ kind: 'other' }), PEEK_TIMEOUT_MS);
        return;
      }
      this.decide({ kind: 'other' });
    };
    upstream.once('data', onUpstreamData);
    this.cancelUpstreamPeek = () => upstream.off('data', onUpstreamData);
  }

  /**
   * The upstream could not be reached. An HTTP/1 client gets the SPEC's error (503, or 504 on a
   * connect timeout) instead of a RST; returns false when the connection should be reset as usual.
   */
  upstreamFailed(err: Error): boolean {
    if ((!this.inspection.requests && !this.inspection.terminate) || this.done) return false;
    this.failure = err;
    if (this.kind) this.proceed();
    else this.timer ??= setTimeout(() => this.decide({ kind: 'other' }), PEEK_TIMEOUT_MS);
    return true;
  }

  private cancelUpstreamPeek: () => void = () => {};

  private onClientData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.peeked += chunk.length;
    const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
    const kind = classify(buf) ?? (this.peeked >= MAX_PEEK_BYTES ? { kind: 'other' as const } : undefined);
    if (kind) return this.decide(kind);
    this.timer ??= setTimeout(() => this.decide({ kind: 'other' }), PEEK_TIMEOUT_MS);
  }

  private decide(kind: FirstBytes): void {
    if (this.kind || this.done) return;
    this.kind = kind;
    this.host.classified(kind.kind);
    clearTimeout(this.timer);
    const { client } = this.host;
    client.off('data', this.onData);
    client.off('end', this.onEnd);
    client.pause();
    if (this.clientEnded) return void ((this.upstream || this.failure) && this.proceed());
    if (this.chunks.length > 0) client.unshift(Buffer.concat(this.chunks));
    this.chunks.length = 0;
    if (kind.kind === 'tls') return this.tlsHello(kind);
    if (this.upstream || this.failure) this.proceed();
    else this.host.dial();
  }

  /** A ClientHello: the server name is learned, then the TLS front has the handshake faults act before the upstream is needed. */
  private tlsHello(kind: TlsHello): void {
    const { host } = this;
    if (!host.learnedSni(kind.sni)) return void (this.done = true);
    const front = host.tlsFront?.(kind);
    if (!front) return this.upstream || this.failure ? this.proceed() : host.dial();
    this.front = front;
    this.frontPending = true;
    void front.handshake().then((goOn) => {
      this.frontPending = false;
      if (!goOn) return void (this.done = true);
      if (this.upstream || this.failure) this.proceed();
      else host.dial();
    });
  }

  private proceed(): void {
    if (this.done || this.frontPending) return;
    this.done = true;
    clearTimeout(this.timer);
    this.cancelUpstreamPeek();
    const kind = this.kind as FirstBytes;
    const { host } = this;
    if (this.front?.terminating) return void this.front.terminate(this.upstream, this.failure).then((cleartext) => cleartext && this.cleartext(cleartext));
    if (this.failure) return this.answerFailure(this.inspection.requests ? kind : { kind: 'other' }, this.failure);
    const upstream = this.upstream as Socket;
    if (this.front) return host.attach(upstream, this.front.fromUpstream(upstream));
    if (kind.kind === 'http1' && this.inspection.requests) return this.http1(upstream);
    // Not from inside the client's 'data' event: the session reads what was put back afterwards.
    if (kind.kind === 'h2' && this.inspection.requests) return void setImmediate(() => proxyHttp2(host, host.client, upstream));
    if (this.clientEnded) {
      // Its 'end' was read here, so the Link will not see it: hand the bytes and the FIN on.
      const replay = new PassThrough();
      replay.pipe(upstream);
      replay.end(Buffer.concat(this.chunks));
      return host.attach(replay, upstream);
    }
    host.attach(upstream, upstream);
  }

  /** A terminated TLS connection: its cleartext goes through the inspection of its protocol (by ALPN). */
  private cleartext({ client, upstream, failure, protocol }: Cleartext): void {
    if (failure || !upstream) return this.answerFailure({ kind: protocol }, failure ?? new Error('no upstream'), client);
    if (protocol === 'h2') return proxyHttp2(this.host, client, upstream);
    this.http1(upstream, client);
  }

  private http1(upstream: Duplex, clientSide?: Duplex): void {
    const { host } = this;
    const response = new Http1ResponseFramer(host);
    const request = new Http1RequestFramer(host, response);
    request.onWebSocket = (faults) => {
      const relay = new WsRelay(host, faults, request, response);
      request.ws = relay;
      response.ws = relay;
    };
    for (const stream of [request, response]) stream.on('error', (err) => host.reset(`HTTP/1 inspection failed: ${err.message}`));
    request.pipe(upstream);
    upstream.pipe(response);
    host.attach(request, response, clientSide);
  }

  /**
   * The upstream could not be reached (or, terminating TLS, verified): an HTTP client gets the
   * SPEC's error on `client` (the TLS socket of a terminated connection): 503, 504 on a connect
   * timeout, 502 for an upstream certificate that failed verification. Others are reset.
   */
  private answerFailure(kind: Pick<FirstBytes, 'kind'>, err: Error & { code?: string; reason?: string }, client: Socket = this.host.client): void {
    if (kind.kind !== 'http1' && kind.kind !== 'h2') return void this.host.client.resetAndDestroy();
    const timeout = err.code === 'FL_ERR_CONNECT_TIMEOUT' || err.code === 'ETIMEDOUT';
    const tls = err.code === 'FL_ERR_UPSTREAM_TLS';
    const code = tls ? 502 : timeout ? 504 : 503;
    const why = tls ? `the upstream's certificate or TLS handshake failed: ${err.reason}` : `the upstream could not be reached: ${timeout ? err.message : (err.code ?? err.message)}`;
    const body = errorBody({ error: timeout ? 'upstream_timeout' : 'upstream_unavailable', message: why, code, retryable: true });
    if (kind.kind === 'h2') return answerHttp2(this.host, client, body);
    this.host.countRequest(code, false);
    client.end(http1Response(code, body, { close: true }));
    client.resume();
  }
}
