import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { ConnectionFaultState, FaultEngine } from '../engine/engine.js';
import type { DatagramFate, StreamDirection } from '../faults/types.js';
import type { Metrics } from '../metrics.js';
import type { CompiledFault } from '../policy/compile.js';
import type { ConnectionMeta } from '../policy/match.js';
import { DatagramChain } from './chain.js';

/** Datagrams a flow queues while its upstream socket connects, and that a socket may have queued to send. */
export const MAX_PENDING_DATAGRAMS = 1024;

/** What a flow needs from its relay. */
export interface FlowHost {
  readonly engine: FaultEngine;
  readonly metrics: Metrics;
  readonly random: () => number;
  /** The relay's own socket, which talks to clients. */
  readonly socket: Socket;
  /** Counts a datagram's fate for this listener. */
  count(stream: StreamDirection, fate: DatagramFate): void;
  onClose(flow: UdpFlow): void;
}

let sequence = 0;

/**
 * One client address of a UDP listener: its own upstream socket (so that replies find their
 * client), its fault state (as a connection's: matched, drawn and time-bounded by the engine
 * once), and a datagram chain per direction, rewired when the policy changes.
 */
export class UdpFlow {
  readonly id = `u${(++sequence).toString(36)}`;
  readonly openedAt = Date.now();
  lastSeen = performance.now();
  readonly datagrams: Record<StreamDirection, number> = { upstream: 0, downstream: 0 };
  readonly bytes: Record<StreamDirection, number> = { upstream: 0, downstream: 0 };
  private readonly upstream: Socket;
  private pending: Buffer[] | undefined = [];
  private readonly chains: Record<StreamDirection, DatagramChain>;
  private readonly state: ConnectionFaultState;
  private active: readonly CompiledFault[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly sendFailed: Record<StreamDirection, (err: Error | null) => void> = {
    upstream: (err) => err && this.host.count('upstream', 'error'),
    downstream: (err) => err && this.host.count('downstream', 'error'),
  };

  constructor(
    readonly meta: ConnectionMeta,
    private readonly target: { host: string; port: number },
    private readonly host: FlowHost,
  ) {
    this.state = host.engine.open(meta);
    const chain = (stream: StreamDirection, deliver: (d: Buffer) => void) =>
      new DatagramChain(stream, deliver, (fate) => host.count(stream, fate), host.random);
    this.chains = {
      upstream: chain('upstream', (d) => this.sendUpstream(d)),
      downstream: chain('downstream', (d) => this.sendDownstream(d)),
    };
    this.upstream = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
    this.upstream.on('message', (datagram) => this.fromUpstream(datagram));
    // ICMP port unreachable and the like: a UDP peer that is not there is not an error of ours.
    this.upstream.on('error', () => host.count('upstream', 'error'));
    this.upstream.connect(target.port, target.host, () => {
      const pending = this.pending ?? [];
      this.pending = undefined;
      for (const datagram of pending) this.sendUpstream(datagram);
    });
    this.refresh();
  }

  /** A datagram from the client. */
  fromClient(datagram: Buffer): void {
    this.lastSeen = performance.now();
    this.datagrams.upstream++;
    this.bytes.upstream += datagram.length;
    this.chains.upstream.push(datagram);
  }

  /** Re-plans the flow's faults (policy change, kill switch, a time bound reached). */
  refresh(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const { active, nextChangeAt } = this.host.engine.plan(this.state);
    const before = new Set(this.active.map((f) => f.key));
    for (const fault of active) {
      if (!before.has(fault.key)) this.host.metrics.faultsInjected.inc({ rule: fault.rule, fault: fault.type.type, listener: this.meta.listener ?? '', direction: this.meta.direction });
    }
    this.active = active;
    this.chains.upstream.rewire(active);
    this.chains.downstream.rewire(active);
    if (nextChangeAt !== undefined) {
      this.timer = setTimeout(() => this.refresh(), Math.min(Math.max(0, nextChangeAt - Date.now()), 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  /** The flow is idle or its listener is gone: its socket closes, what its stages hold is dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.chains.upstream.destroy();
    this.chains.downstream.destroy();
    this.upstream.close();
    this.host.onClose(this);
  }

  /** A snapshot for the admin API (`GET /flows`). */
  describe(): Record<string, unknown> {
    return {
      id: this.id,
      listener: this.meta.listener,
      client: `${this.meta.source.address}:${this.meta.source.port}`,
      upstream: `${this.target.host}:${this.target.port}`,
      openedAt: new Date(this.openedAt).toISOString(),
      ageMs: Date.now() - this.openedAt,
      idleMs: Math.round(performance.now() - this.lastSeen),
      datagramsUpstream: this.datagrams.upstream,
      datagramsDownstream: this.datagrams.downstream,
      bytesUpstream: this.bytes.upstream,
      bytesDownstream: this.bytes.downstream,
      faults: this.active.map((f) => ({ rule: f.rule, fault: f.type.type })),
    };
  }

  private fromUpstream(datagram: Buffer): void {
    this.lastSeen = performance.now();
    this.datagrams.downstream++;
    this.bytes.downstream += datagram.length;
    this.chains.downstream.push(datagram);
  }

  private sendUpstream(datagram: Buffer): void {
    if (this.closed) return;
    if (this.pending) {
      if (this.pending.length < MAX_PENDING_DATAGRAMS) this.pending.push(datagram);
      else this.host.count('upstream', 'overflow');
      return;
    }
    this.send(this.upstream, 'upstream', datagram);
  }

  private sendDownstream(datagram: Buffer): void {
    if (this.closed) return;
    this.send(this.host.socket, 'downstream', datagram, this.meta.source.port, this.meta.source.address);
  }

  /** A socket whose send queue is full (the kernel's buffer too) drops the datagram, as a full NIC queue would. */
  private send(socket: Socket, stream: StreamDirection, datagram: Buffer, port?: number, address?: string): void {
    if (socket.getSendQueueCount() >= MAX_PENDING_DATAGRAMS) return this.host.count(stream, 'overflow');
    if (port === undefined) socket.send(datagram, this.sendFailed[stream]);
    else socket.send(datagram, port, address, this.sendFailed[stream]);
    this.host.count(stream, 'relayed');
  }
}
