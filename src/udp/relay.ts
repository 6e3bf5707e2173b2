import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { FaultEngine } from '../engine/engine.js';
import { ListenError } from '../errors.js';
import type { DatagramFate, StreamDirection } from '../faults/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { parseHostPort } from '../net/address.js';
import type { ListenerSpec } from '../policy/schema.js';
import { UdpFlow, type FlowHost } from './flow.js';

/** Flows one UDP listener keeps at most; datagrams of further client addresses are dropped (overflow). */
export const MAX_FLOWS = 4096;
/** A client address silent this long loses its flow, unless the listener says `idleTimeout`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export interface UdpRelayContext {
  engine: FaultEngine;
  metrics: Metrics;
  log: Logger;
  random: () => number;
}

/** Counts of one (stream, fate) not yet handed to prom-client. */
interface Pending {
  counter: { inc(value: number): void };
  count: number;
}

/**
 * A `protocol: udp` listener: relays datagrams between each client address and the upstream,
 * per client address a flow (its own upstream socket) that lives until it has been idle for the
 * listener's `idleTimeout`. Flows take datagram faults (latency, loss, duplicate, reorder,
 * bandwidth, blackhole) from the engine like connections take theirs, live changes included.
 * Memory is bounded: at most MAX_FLOWS flows, and bounded queues in every stage and socket;
 * what a bound turns away is counted (`faultline_datagrams_total{fate="overflow"}`).
 */
export class UdpRelay {
  readonly flows = new Map<string, UdpFlow>();
  private readonly socket: Socket;
  private bound: { address: string; port: number } | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly counters = new Map<string, Pending>();
  private readonly flush = () => {
    for (const pending of this.counters.values()) {
      if (pending.count > 0) pending.counter.inc(pending.count);
      pending.count = 0;
    }
  };
  private readonly host: FlowHost;

  constructor(
    readonly name: string,
    private readonly listen_: { host: string; port: number },
    /** The listener as the policy says now (a reload may change its upstream for new flows). */
    private readonly spec: () => ListenerSpec,
    private readonly ctx: UdpRelayContext,
  ) {
    this.socket = createSocket({ type: isIP(listen_.host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket.on('message', (datagram, rinfo) => this.fromClient(datagram, rinfo));
    this.socket.on('error', (err) => ctx.log.warn({ listener: name, cause: err.message }, 'udp listener error'));
    this.host = {
      engine: ctx.engine,
      metrics: ctx.metrics,
      random: ctx.random,
      socket: this.socket,
      count: (stream, fate) => this.count(stream, fate),
      onClose: (flow) => this.flows.delete(`${flow.meta.source.address}|${flow.meta.source.port}`),
    };
  }

  /** The address actually bound (port 0 resolved). */
  get address(): { address: string; port: number } {
    if (!this.bound) throw new ListenError(`listener ${this.name} is not bound`);
    return this.bound;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(`cannot listen on ${this.listen_.host}:${this.listen_.port}/udp: ${err.code ?? err.message}`, { cause: err }));
      this.socket.once('error', onError);
      this.socket.bind(this.listen_.port, this.listen_.host, () => {
        this.socket.off('error', onError);
        const info = this.socket.address();
        this.bound = { address: info.address, port: info.port };
        const idle = this.spec().idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
        this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, idle / 4)));
        this.sweeper.unref();
        this.ctx.metrics.datagramFlushes.add(this.flush);
        resolve();
      });
    });
  }

  /** Every flow re-plans its faults (policy change, kill switch). */
  refresh(): void {
    for (const flow of this.flows.values()) flow.refresh();
  }

  /** Stops listening; every flow closes. */
  close(): void {
    clearInterval(this.sweeper);
    for (const flow of [...this.flows.values()]) flow.close();
    this.flush();
    this.ctx.metrics.datagramFlushes.delete(this.flush);
    try {
      this.socket.close();
    } catch {
      // not bound, or closed already
    }
  }

  private fromClient(datagram: Buffer, rinfo: RemoteInfo): void {
    // Port 0 cannot be answered (and only a crafted packet comes from it).
    if (rinfo.port === 0) return;
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.flows.size >= MAX_FLOWS) return this.count('upstream', 'overflow');
      const spec = this.spec();
      const upstream = parseHostPort(spec.upstream) as { host: string; port: number };
      flow = new UdpFlow(
        {
          listener: this.name,
          direction: spec.direction,
          source: { address: rinfo.address, port: rinfo.port },
          destination: { address: upstream.host, port: upstream.port, host: isIP(upstream.host) ? undefined : upstream.host },
        },
        upstream,
        this.host,
      );
      this.flows.set(key, flow);
    }
    flow.fromClient(datagram);
  }

  private sweep(): void {
    const idle = this.spec().idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    const now = performance.now();
    for (const flow of [...this.flows.values()]) if (now - flow.lastSeen >= idle) flow.close();
  }

  /** Counted in a plain number per (stream, fate); prom-client gets the sums when it is read (a datagram costs an addition). */
  private count(stream: StreamDirection, fate: DatagramFate): void {
    const key = `${stream}/${fate}`;
    let pending = this.counters.get(key);
    if (!pending) this.counters.set(key, (pending = { counter: this.ctx.metrics.datagrams.labels({ listener: this.name, stream, fate }), count: 0 }));
    pending.count++;
  }
}
