import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { Http2Relay } from './h2-relay.js';
import type { L7Host } from './host.js';

export { grpcMessage, httpToGrpc } from './h2-exchange.js';

/** What the HTTP/2 relay needs of its connection: the L7 host, and the fault chain's attachment. */
export interface Http2Host extends L7Host {
  /** Starts relaying through the connection's fault chains: client → toUpstream, fromUpstream → client. */
  attach(toUpstream: Writable, fromUpstream: Readable): void;
}

/**
 * HTTP/2 cleartext (prior knowledge) and gRPC, per stream, through the frame relay
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
  host.attach(relay.fromClient, relay.toClient);
}
