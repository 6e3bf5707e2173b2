import { isIP, type Socket } from 'node:net';
import { connect, TLSSocket, type SecureContext } from 'node:tls';
import { ConnectTimeoutError, UpstreamTlsError } from '../errors.js';

/** How long either TLS handshake of a terminated connection may take. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The ALPN protocols faultline can inspect once it decrypts: HTTP/2 and HTTP/1.1. */
export const INSPECTABLE_ALPN = ['h2', 'http/1.1'];

/** Resolves when `socket` emits `ready`, rejects with its error or after HANDSHAKE_TIMEOUT_MS. */
function handshake(socket: TLSSocket, ready: string, timeoutError: () => Error): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => socket.destroy(timeoutError()), HANDSHAKE_TIMEOUT_MS);
    const closed = () => fail(Object.assign(new Error('the connection closed during the TLS handshake'), { code: 'ECONNRESET' }));
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.off('close', closed);
      reject(err);
    };
    socket.once('error', fail);
    socket.once('close', closed);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.off('close', closed);
      resolve(socket);
    });
  });
}

/**
 * TLS to the upstream over its connected socket, as the client would have spoken it: the same
 * server name (checked against the certificate; without one, the address dialled) and the same
 * ALPN offer. The certificate is verified against the trust in `context` (a resumed session's
 * when it began); a failure
 * rejects with UpstreamTlsError carrying the verification's code.
 */
export async function originate(
  upstream: Socket,
  options: { servername: string | undefined; host: string; alpn: string[] | undefined; context: SecureContext; sessions?: SessionCache; sessionKey?: string },
): Promise<TLSSocket> {
  const { sessions, sessionKey = '' } = options;
  const session = sessions?.get(sessionKey);
  const socket = connect({
    socket: upstream,
    ...(session ? { session } : {}),
    host: options.host,
    ...(options.servername && isIP(options.servername) === 0 ? { servername: options.servername } : {}),
    ...(options.alpn?.length ? { ALPNProtocols: options.alpn } : {}),
    secureContext: options.context,
    rejectUnauthorized: true,
  });
  // The TLS socket owns the upstream connection from now on: when it goes, so does the socket under it.
  socket.once('close', () => upstream.destroy());
  // The next connection to this upstream resumes the session (its certificate was verified when it began).
  if (sessions) socket.on('session', (ticket: Buffer) => sessions.set(sessionKey, ticket));
  try {
    return await handshake(socket, 'secureConnect', () => new ConnectTimeoutError(HANDSHAKE_TIMEOUT_MS));
  } catch (err) {
    socket.destroy();
    const code = (err as NodeJS.ErrnoException).code ?? 'TLS';
    if (err instanceof ConnectTimeoutError) throw err;
    throw new UpstreamTlsError(code, `the upstream's TLS handshake failed: ${code} (${(err as Error).message})`, { cause: err });
  }
}

/**
 * TLS sessions of upstreams, by upstream address, server name and ALPN offer, so that a new
 * terminated connection resumes its upstream's session instead of a full handshake (as Node's
 * https.Agent does); the least recently used go beyond MAX_SESSIONS.
 */
export class SessionCache {
  static readonly MAX_SESSIONS = 256;
  private readonly sessions = new Map<string, Buffer>();

  get(key: string): Buffer | undefined {
    return this.sessions.get(key);
  }

  set(key: string, session: Buffer): void {
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > SessionCache.MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
  }

  clear(): void {
    this.sessions.clear();
  }
}

/**
 * faultline's side of the client's handshake, over the client's socket (the ClientHello it sent
 * is still in that socket's buffer): `context` holds the certificate, `alpn` the one protocol
 * to select (none when the client offered none). Resolves once the handshake is done.
 */
export function serve(client: Socket, context: SecureContext, alpn: string[] | undefined): Promise<TLSSocket> {
  const socket = new TLSSocket(client, { isServer: true, secureContext: context, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  // The TLS socket owns the connection from now on: when it goes, so does the socket under it.
  socket.once('close', () => client.destroy());
  return handshake(socket, 'secure', () => new ConnectTimeoutError(HANDSHAKE_TIMEOUT_MS)).then(
    (secure) => {
      // What tls.Server does for its own sockets once secure (node:http2 waits for it otherwise).
      (secure as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      return secure;
    },
    (err: Error) => {
      socket.destroy();
      throw err;
    },
  );
}
