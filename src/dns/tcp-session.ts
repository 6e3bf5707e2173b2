import { connect, type Socket } from 'node:net';
import type { DnsUpstream } from './resolv.js';
import { DnsFramer, frame } from './tcp-framing.js';

/** Queries of one TCP connection in flight before it stops reading more (RFC 7766 pipelining, bounded). */
export const MAX_PIPELINED = 64;
/** A client TCP connection idle this long is closed (RFC 7766 says seconds, not minutes). */
export const TCP_IDLE_MS = 10_000;

/** How a session hands each query to the proxy, and how the proxy answers or forwards it. */
export type QueryHandler = (message: Buffer, answer: (reply: Buffer) => void, forward: (query: Buffer, done: (reply: Buffer | undefined) => void) => void, settled: () => void) => void;

/**
 * One client's DNS-over-TCP connection: framed queries in, framed answers out (in whatever order
 * they are ready, as RFC 7766 allows). Forwarded queries go to the upstream over one TCP
 * connection of this session's own, opened on the first one, so ids never collide with another
 * client's. Reading pauses while MAX_PIPELINED queries are in flight.
 */
export class TcpDnsSession {
  private upstream: Socket | undefined;
  private readonly waiting = new Map<number, (reply: Buffer | undefined) => void>();
  private inFlight = 0;
  private closed = false;

  constructor(
    private readonly client: Socket,
    private readonly target: () => DnsUpstream,
    private readonly handle: QueryHandler,
  ) {
    const framer = new DnsFramer((message) => this.onQuery(message));
    client.setTimeout(TCP_IDLE_MS, () => client.end());
    client.on('data', (chunk: Buffer) => {
      if (!framer.push(chunk)) client.destroy();
    });
    client.on('error', () => undefined);
    client.once('close', () => this.close());
  }

  private onQuery(message: Buffer): void {
    this.inFlight++;
    if (this.inFlight >= MAX_PIPELINED) this.client.pause();
    this.handle(
      message,
      (reply) => !this.closed && this.client.write(frame(reply)),
      (query, done) => this.forward(query, done),
      () => {
        this.inFlight--;
        if (this.inFlight < MAX_PIPELINED / 2 && this.client.isPaused()) this.client.resume();
      },
    );
  }

  private forward(query: Buffer, done: (reply: Buffer | undefined) => void): void {
    const id = query.readUInt16BE(0);
    if (this.closed || this.waiting.has(id)) return done(undefined);
    this.waiting.set(id, done);
    this.connectUpstream().write(frame(query));
  }

  private connectUpstream(): Socket {
    if (this.upstream) return this.upstream;
    const { host, port } = this.target();
    const upstream = connect({ host, port });
    const framer = new DnsFramer((reply) => {
      if (reply.length < 12) return;
      const done = this.waiting.get(reply.readUInt16BE(0));
      if (!done) return;
      this.waiting.delete(reply.readUInt16BE(0));
      done(reply);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!framer.push(chunk)) upstream.destroy();
    });
    upstream.on('error', () => undefined);
    // The upstream went away: what it owed is not coming; the next query opens a new connection.
    upstream.once('close', () => {
      if (this.upstream === upstream) this.upstream = undefined;
      this.failWaiting();
    });
    this.upstream = upstream;
    return upstream;
  }

  private failWaiting(): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const done of waiting) done(undefined);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.upstream?.destroy();
    this.failWaiting();
  }
}
