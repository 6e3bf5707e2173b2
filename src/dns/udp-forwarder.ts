import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { DnsUpstream } from './resolv.js';

/** Queries waiting for the upstream at most; more are not forwarded (the client's retry may fare better). */
export const MAX_OUTSTANDING = 4096;
/** How long an upstream answer is waited for; then the query is forgotten (the client has given up or retried). */
export const UPSTREAM_TIMEOUT_MS = 5000;

interface Outstanding {
  id: number;
  done: (answer: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

/**
 * Forwards UDP queries to the upstream resolver over one socket, as a stub resolver would: each
 * query gets a fresh random id of ours on the way out (clients' ids may collide), and its answer
 * gets the client's id back, every other byte as the upstream sent it. Answers from anyone but
 * the upstream, or with an id we are not waiting for, are dropped.
 */
export class UdpForwarder {
  private socket: Socket | undefined;
  private readonly outstanding = new Map<number, Outstanding>();

  constructor(private readonly upstream: () => DnsUpstream) {}

  get size(): number {
    return this.outstanding.size;
  }

  /** Sends `query`; `done` gets the answer, or undefined on timeout or failure. False when too many are outstanding. */
  forward(query: Buffer, done: (answer: Buffer | undefined) => void): boolean {
    if (this.outstanding.size >= MAX_OUTSTANDING) return false;
    const target = this.upstream();
    const socket = this.socketFor(target);
    let ours = randomInt(65536);
    while (this.outstanding.has(ours)) ours = randomInt(65536);
    const entry: Outstanding = {
      id: query.readUInt16BE(0),
      done,
      timer: setTimeout(() => this.settle(ours, undefined), UPSTREAM_TIMEOUT_MS),
    };
    this.outstanding.set(ours, entry);
    const copy = Buffer.from(query);
    copy.writeUInt16BE(ours, 0);
    socket.send(copy, target.port, target.host, (err) => err && this.settle(ours, undefined));
    return true;
  }

  close(): void {
    for (const key of [...this.outstanding.keys()]) this.settle(key, undefined);
    this.socket?.close();
    this.socket = undefined;
  }

  private socketFor(target: DnsUpstream): Socket {
    if (this.socket) return this.socket;
    const socket = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
    socket.on('message', (answer, rinfo) => this.onAnswer(answer, rinfo));
    socket.on('error', () => undefined);
    this.socket = socket;
    return socket;
  }

  private onAnswer(answer: Buffer, rinfo: RemoteInfo): void {
    const target = this.upstream();
    if (answer.length < 12 || rinfo.port !== target.port || rinfo.address.toLowerCase() !== target.host.toLowerCase()) return;
    const ours = answer.readUInt16BE(0);
    const entry = this.outstanding.get(ours);
    if (!entry) return;
    answer.writeUInt16BE(entry.id, 0);
    this.settle(ours, answer);
  }

  private settle(ours: number, answer: Buffer | undefined): void {
    const entry = this.outstanding.get(ours);
    if (!entry) return;
    this.outstanding.delete(ours);
    clearTimeout(entry.timer);
    entry.done(answer);
  }
}
