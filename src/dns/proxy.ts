import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server } from 'node:net';
import type { DnsDecision, FaultEngine } from '../engine/engine.js';
import { ListenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionMeta } from '../policy/match.js';
import { addressAnswer, errorAnswer, formatError, readMessage, responseRcode, truncatedAnswer } from './message.js';
import { QueryLog, type QueryRecord } from './query-log.js';
import type { DnsUpstream } from './resolv.js';
import { TcpDnsSession } from './tcp-session.js';
import { UdpForwarder } from './udp-forwarder.js';

/** Queries held by a dns_delay at once; more are dropped (unanswered, rcode "none"). */
export const MAX_DELAYED = 4096;

export interface DnsProxyContext {
  engine: FaultEngine;
  metrics: Metrics;
  log: Logger;
}

export interface DnsProxyOptions {
  /** The explicit listener's name; undefined for the transparent DNS proxy (15053). */
  listener?: string | undefined;
  direction: 'inbound' | 'outbound';
  /** Where queries go when no fault answers them; read per query (a reload may change it). */
  upstream: () => DnsUpstream;
}

type Answer = (reply: Buffer) => void;
type Forward = (query: Buffer, done: (reply: Buffer | undefined) => void) => void;

/**
 * The DNS proxy: UDP and TCP on one port. Every query is read with dns-packet and matched against
 * the DNS rules (src/engine/ decides: matching, probability, firstConnections, time bounds);
 * with no fault it is forwarded to the upstream resolver and the answer relayed as the upstream
 * sent it. Faults delay it, answer it (an rcode, addresses, a truncated answer) or leave it
 * unanswered. A message that cannot be decoded gets FORMERR (a response, or less than a header,
 * is dropped); nothing a client sends can stop the proxy.
 */
export class DnsProxy {
  readonly queries = new QueryLog();
  private udp: UdpSocket;
  private readonly tcp: Server;
  private readonly forwarder: UdpForwarder;
  private readonly delayed = new Set<NodeJS.Timeout>();
  private bound: { address: string; port: number } | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly at: { host: string; port: number },
    private readonly options: DnsProxyOptions,
    private readonly ctx: DnsProxyContext,
  ) {
    this.forwarder = new UdpForwarder(options.upstream);
    this.udp = this.udpSocket();
    this.tcp = createServer((socket) => {
      const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      new TcpDnsSession(socket, options.upstream, (message, answer, forward, settled) => this.handle(message, client, 'tcp', answer, forward, settled));
    });
  }

  /** The address bound, UDP and TCP alike (port 0 resolved). */
  get address(): { address: string; port: number } {
    if (!this.bound) throw new ListenError(`listener ${this.name} is not bound`);
    return this.bound;
  }

  /**
   * Binds UDP, then TCP on the same port. With port 0 the TCP port the UDP socket got may be
   * taken: then both are tried again on another one (a few times).
   */
  async listen(): Promise<void> {
    const fail = (transport: string, err: NodeJS.ErrnoException) => new ListenError(`cannot listen on ${this.at.host}:${this.at.port}/${transport}: ${err.code ?? err.message}`, { cause: err });
    for (let attempt = 0; ; attempt++) {
      const port = await new Promise<number>((resolve, reject) => {
        this.udp.once('error', (err) => reject(fail('udp', err)));
        this.udp.bind(this.at.port, this.at.host, () => resolve(this.udp.address().port));
      });
      const tcpError = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        this.tcp.once('error', resolve);
        this.tcp.listen({ host: this.at.host, port }, () => resolve(undefined));
      });
      if (!tcpError) {
        this.bound = { address: this.udp.address().address, port };
        return;
      }
      this.udp.close();
      this.udp = this.udpSocket();
      if (this.at.port !== 0 || attempt >= 10) throw fail('tcp', tcpError);
    }
  }

  private udpSocket(): UdpSocket {
    const socket = createSocket(isIP(this.at.host) === 6 ? 'udp6' : 'udp4');
    socket.on('message', (message, rinfo) => this.onUdp(message, rinfo));
    socket.on('error', (err) => this.ctx.log.warn({ listener: this.name, cause: err.message }, 'dns proxy: udp error'));
    return socket;
  }

  /** Nothing to re-plan: every query is decided when it arrives. */
  refresh(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    this.forwarder.close();
    this.tcp.close();
    try {
      this.udp.close();
    } catch {
      // never bound
    }
  }

  /** What `GET /dns` shows of this proxy. */
  view(): Record<string, unknown> {
    return { listener: this.name, address: this.bound ? `${this.bound.address}:${this.bound.port}` : null, inFlight: this.forwarder.size + this.delayed.size, recent: this.queries.list() };
  }

  private onUdp(message: Buffer, rinfo: RemoteInfo): void {
    // Port 0 cannot be answered (and only a crafted packet comes from it).
    if (rinfo.port === 0) return;
    const answer: Answer = (reply) => !this.closed && this.udp.send(reply, rinfo.port, rinfo.address);
    const forward: Forward = (query, done) => {
      if (!this.forwarder.forward(query, done)) done(undefined);
    };
    this.handle(message, { address: rinfo.address, port: rinfo.port }, 'udp', answer, forward, () => undefined);
  }

  /** One message, whichever transport: decided, then answered, forwarded or dropped; `settled` once it is done. */
  private handle(message: Buffer, client: { address: string; port: number }, transport: 'udp' | 'tcp', answer: Answer, forward: Forward, settled: () => void): void {
    try {
      this.decide(message, client, transport, answer, forward, settled);
    } catch (err) {
      // A message dns-packet decodes but cannot encode an answer to: dropped, never a crash.
      this.ctx.log.debug({ listener: this.name, cause: (err as Error).message }, 'dns proxy: message dropped');
      this.ctx.metrics.dnsQueries.inc({ rule: '', rcode: 'none', faulted: 'false' });
      settled();
    }
  }

  private decide(message: Buffer, client: { address: string; port: number }, transport: 'udp' | 'tcp', answer: Answer, forward: Forward, settled: () => void): void {
    const started = performance.now();
    const record: QueryRecord = { at: new Date().toISOString(), transport, client: `${client.address}:${client.port}`, name: null, type: null, rule: '', faults: [], rcode: 'none', ms: 0 };
    const finish = (rcode: string, reply?: Buffer) => {
      if (reply) answer(reply);
      record.rcode = rcode;
      record.ms = Math.round((performance.now() - started) * 10) / 10;
      this.queries.add(record);
      this.ctx.metrics.dnsQueries.inc({ rule: record.rule, rcode, faulted: String(record.faults.length > 0) });
      settled();
    };
    const relay = (query: Buffer) => forward(query, (reply) => (reply ? finish(responseRcode(reply), reply) : finish('none')));
    const inbound = readMessage(message, transport);
    if (inbound.kind === 'ignored') return finish('none');
    if (inbound.kind === 'malformed') return finish('FORMERR', formatError(inbound.id));
    if (inbound.kind === 'other') return relay(message);
    const { packet, question } = inbound;
    record.name = question.name;
    record.type = question.type;
    const decisions = this.ctx.engine.evaluateDns(this.meta(client), question);
    if (decisions.length === 0) return relay(message);
    this.countFaults(decisions, record);
    const delay = decisions.reduce((sum, d) => sum + (d.effect.delayMs ?? 0), 0);
    const act = () => {
      const decided = decisions.find((d) => d.effect.rcode || d.effect.drop || d.effect.answer || d.effect.truncate);
      const effect = decided?.effect;
      if (decided) record.rule = decided.fault.rule;
      if (effect?.rcode) return finish(effect.rcode, errorAnswer(packet, effect.rcode));
      if (effect?.drop) return finish('none');
      if (effect?.answer) return finish('NOERROR', addressAnswer(packet, question, effect.answer.addresses, effect.answer.ttl));
      if (effect?.truncate) return finish('NOERROR', truncatedAnswer(packet));
      relay(message);
    };
    if (delay <= 0) return act();
    if (this.delayed.size >= MAX_DELAYED) return finish('none');
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      act();
    }, delay);
    this.delayed.add(timer);
  }

  private meta(client: { address: string; port: number }): ConnectionMeta {
    const upstream = this.options.upstream();
    return { listener: this.options.listener, direction: this.options.direction, source: client, destination: { address: upstream.host, port: upstream.port } };
  }

  private countFaults(decisions: DnsDecision[], record: QueryRecord): void {
    record.rule = decisions[0]?.fault.rule ?? '';
    for (const { fault } of decisions) {
      record.faults.push(`${fault.rule}/${fault.type.type}`);
      this.ctx.metrics.faultsInjected.inc({ rule: fault.rule, fault: fault.type.type, listener: this.options.listener ?? 'dns', direction: this.options.direction });
    }
  }
}
