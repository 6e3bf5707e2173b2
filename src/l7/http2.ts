import { constants, createServer, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { ErrorBody } from './error-response.js';
import { grpcMessage } from './h2-exchange.js';
import { Http2Relay } from './h2-relay.js';
import type { L7Host } from './host.js';

export { grpcMessage, httpToGrpc } from './h2-exchange.js';

/** gRPC's UNAVAILABLE status code. */
const GRPC_UNAVAILABLE = 14;

/** What the HTTP/2 relay needs of its connection: the L7 host, and the fault chain's attachment. */
export interface Http2Host extends L7Host {
  /** Starts relaying through the connection's fault chains: client → toUpstream, fromUpstream → client. */
  attach(toUpstream: Writable, fromUpstream: Readable, clientSide?: Duplex): void;
}

/**
 * HTTP/2 (cleartext with prior knowledge, or a terminated TLS connection's cleartext: `client`
 * is then the TLS socket) and gRPC, per stream, through the frame relay
 * (src/l7/h2-relay.ts): frames keep their stream ids and pass as bytes, header blocks are
 * decoded to match each request, and a fault acts on its stream alone. The connection's fault
 * chains sit between the client socket and the relay, so connection faults (latency,
 * bandwidth, reset...) apply to h2c and gRPC as they do to HTTP/1.1; what faultline writes
 * itself (answers, resets) goes through them too. Invalid frames end the connection with
 * GOAWAY carrying the RFC's error code; nothing else is affected.
 */
export function proxyHttp2(host: Http2Host, client: Socket, upstream: Socket): void {
  const relay = new Http2Relay(host, client, upstream);
  // HTTP/2 has no half-closed connection: a client's FIN without GOAWAY (a killed process) ends
  // it all, or the upstream (a node:http2 server never closes first) would keep it forever.
  client.once('end', () => {
    client.destroy();
    upstream.destroy();
  });
  host.attach(relay.fromClient, relay.toClient, client);
}

/**
 * No upstream to relay to (unreachable, or its TLS failed): every stream the client opens is
 * answered with `body`'s status in the error shape (gRPC: 14 UNAVAILABLE with its message),
 * then the session closes gracefully. A failure path, so node:http2 speaks for us here.
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
    stream.resume();
    if (/^application\/grpc/.test(String(headers['content-type'] ?? ''))) {
      host.countRequest(200, false);
      stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': String(GRPC_UNAVAILABLE), 'grpc-message': grpcMessage(body.message) }, { endStream: true });
      return;
    }
    host.countRequest(body.code, false);
    stream.respond({ [constants.HTTP2_HEADER_STATUS]: body.code, 'content-type': 'application/json' });
    const requestId = headers['x-request-id'];
    stream.end(JSON.stringify({ ...body, requestId: typeof requestId === 'string' ? requestId : body.requestId }));
  });
  server.emit('connection', client);
  client.resume();
}
