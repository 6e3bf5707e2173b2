import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { TlsHello } from '../l7/detect.js';
import { hold, type L7Host } from '../l7/host.js';
import type { ConnectionMeta } from '../policy/match.js';
import type { TlsAuthority } from './authority.js';
import { HandshakePlan } from './handshake.js';
import { alertRecord } from './records.js';
import { HANDSHAKE_TIMEOUT_MS, INSPECTABLE_ALPN, originate, serve } from './terminate.js';

/** What the TLS front needs of its connection. */
export interface TlsFrontHost extends L7Host {
  readonly client: Socket;
  readonly meta: ConnectionMeta;
}

/** A terminated connection's two cleartext sides, and what they speak. */
export interface Cleartext {
  client: TLSSocket;
  /** The upstream's TLS socket; absent when it could not be reached or verified (`failure` says why). */
  upstream: TLSSocket | undefined;
  failure: Error | undefined;
  protocol: 'http1' | 'h2';
}

/**
 * A TLS connection once its ClientHello is read (src/l7/inspect.ts hands it over): the
 * handshake faults drawn for it are carried out first (hold, reject with an alert, present a
 * bad certificate), before any byte reaches the upstream; then the connection either passes
 * through untouched or, when a `tls: terminate` rule matches its server name and the sidecar
 * has a CA, is decrypted: TLS to the upstream with the client's server name and ALPN offer,
 * then faultline's own handshake with the client on a leaf for that name, selecting what the
 * upstream selected, and the cleartext goes to the usual inspection.
 */
export class TlsFront {
  private plan: HandshakePlan | undefined;
  /** Decided by `handshake()`: a terminating rule matches, and the sidecar can terminate. */
  terminating = false;

  constructor(
    private readonly host: TlsFrontHost,
    private readonly authority: TlsAuthority,
    private readonly hello: TlsHello,
    private readonly random: () => number,
  ) {}

  /** The name leaf certificates are made for: the server name, else the address dialled. */
  private get name(): string {
    const { sni } = this.hello;
    return sni ?? this.host.meta.destination.host ?? this.host.meta.destination.address;
  }

  /**
   * Carries out the handshake faults. Resolves false when one of them ended the connection
   * (rejected, or presented a certificate), true when the handshake goes on.
   */
  async handshake(): Promise<boolean> {
    const { host } = this;
    const plan = (this.plan = HandshakePlan.of(host.engine.handshakeFaults(host.state), this.random));
    await hold(plan.clientHelloMs, host.signal);
    if (host.signal.aborted) return false;
    const answer = plan.answer;
    if (answer) {
      await hold(plan.serverHelloMs, host.signal);
      if (host.signal.aborted) return false;
      if ('alert' in answer) this.reject(answer.alert, answer.by.rule);
      else await this.present(answer.certificate, answer.by.rule);
      return false;
    }
    // Only what faultline can inspect is decrypted: an ALPN offer without h2 or http/1.1 passes.
    const alpn = this.hello.alpn;
    const inspectable = alpn === undefined || alpn.some((p) => INSPECTABLE_ALPN.includes(p));
    this.terminating = inspectable && this.authority.configured && host.engine.terminates(host.state);
    return true;
  }

  /**
   * Passing through: the upstream's bytes to the client, with the server's first answer held
   * for the serverhello holds (the upstream itself when there are none: a plain pipe).
   */
  fromUpstream(upstream: Socket): Readable {
    const ms = this.plan?.serverHelloMs ?? 0;
    if (ms <= 0) return upstream;
    const gate = new PassThrough();
    upstream.once('data', (first: Buffer) => {
      upstream.pause();
      void hold(ms, this.host.signal).then(() => {
        gate.write(first);
        upstream.pipe(gate);
      });
    });
    return gate;
  }

  /**
   * Terminates: the upstream's TLS first (when it was reached), so that the client is offered
   * what the upstream selected; then the client's handshake, held for the serverhello holds.
   * Resolves undefined when the client's handshake failed (the connection is then closed).
   */
  async terminate(upstream: Socket | undefined, failure: Error | undefined): Promise<Cleartext | undefined> {
    const { host, hello } = this;
    const offered = hello.alpn?.filter((p) => INSPECTABLE_ALPN.includes(p));
    let upstreamTls: TLSSocket | undefined;
    if (upstream && !failure) {
      const destination = host.meta.destination;
      try {
        const host = hello.sni ?? destination.host ?? destination.address;
        const sessionKey = `${destination.address}:${destination.port}|${host}|${offered?.join(',') ?? ''}`;
        upstreamTls = await originate(upstream, { servername: hello.sni, host, alpn: offered, context: this.authority.upstreamContext, sessions: this.authority.sessions, sessionKey });
      } catch (err) {
        failure = err as Error;
        host.log.warn({ cause: (err as Error).message, upstream: `${destination.address}:${destination.port}` }, 'terminated TLS: the upstream failed; answering the client');
      }
    }
    const selected = upstreamTls?.alpnProtocol || undefined;
    const protocol = selected === 'h2' || (!upstreamTls && offered?.[0] === 'h2') ? 'h2' : 'http1';
    const alpn = offered?.length ? [protocol === 'h2' ? 'h2' : 'http/1.1'] : undefined;
    try {
      const context = await this.authority.leaf(this.name);
      await hold(this.plan?.serverHelloMs ?? 0, host.signal);
      if (host.signal.aborted) throw new Error('the connection ended');
      const client = await serve(host.client, context, alpn);
      // A TLS error on either side (a reset, a record that does not decrypt) ends the connection, as a socket error does.
      client.on('error', (err: NodeJS.ErrnoException) => host.reset(`client TLS ${err.code ?? err.message}`));
      upstreamTls?.on('error', (err: NodeJS.ErrnoException) => host.reset(`upstream TLS ${err.code ?? err.message}`));
      return { client, upstream: upstreamTls, failure, protocol };
    } catch (err) {
      upstreamTls?.destroy();
      host.log.warn({ cause: (err as Error).message, name: this.name }, 'terminated TLS: the client refused or dropped the handshake (does it trust the CA of --tls-ca-cert?)');
      host.close('TLS handshake with the client failed');
      return undefined;
    }
  }

  private reject(alert: number, rule: string): void {
    const { client } = this.host;
    // Whatever the client sends after its hello is read and dropped, so that closing sends FIN, not RST.
    client.on('data', () => {});
    client.resume();
    client.end(alertRecord(alert));
    this.closeSoon(client, `tls_reject of rule ${rule}`);
  }

  /** Completes the handshake with a bad certificate (the client's verification fails), then closes. */
  private async present(spec: Parameters<TlsAuthority['context']>[0], rule: string): Promise<void> {
    const { host } = this;
    const reason = `tls_certificate of rule ${rule}`;
    try {
      const context = await this.authority.context(spec, this.name);
      const alpn = this.hello.alpn?.length ? [this.hello.alpn[0] as string] : undefined;
      const socket = await serve(host.client, context, alpn);
      socket.on('error', () => host.close(reason));
      // A client that does not verify completes the handshake: it then sees the connection close.
      socket.end();
      this.closeSoon(socket, reason);
    } catch (err) {
      host.log.debug({ cause: (err as Error).message }, 'tls_certificate: the client refused the certificate');
      host.close(reason);
    }
  }

  /** The socket was ended: the connection closes when the client closes too, or after a second. */
  private closeSoon(socket: Socket, reason: string): void {
    const timer = setTimeout(() => this.host.close(reason), Math.min(1000, HANDSHAKE_TIMEOUT_MS));
    socket.once('close', () => {
      clearTimeout(timer);
      this.host.close(reason);
    });
  }
}
