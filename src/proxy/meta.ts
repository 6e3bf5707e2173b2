import type { Socket } from 'node:net';
import type { ConnectionMeta } from '../policy/match.js';

type Peer = { address: string; port: number };
const UNKNOWN: Peer = Object.freeze({ address: '', port: 0 });

/**
 * How rules see an accepted connection, with its `source` (the client's address and port) read
 * from the socket the first time something asks: a getpeername call that a plain connection
 * does not need. Whoever needs it reads it while the socket is open: rule matching at open, the
 * admin API on a live connection, the connection itself at open when it will log a close line.
 */
export class AcceptedMeta implements ConnectionMeta {
  /** The TLS server name, once an inspection read it. */
  sni: string | undefined;
  #peer: Peer | undefined;
  readonly #socket: Socket;

  constructor(
    socket: Socket,
    readonly direction: 'inbound' | 'outbound',
    readonly destination: { address: string; port: number; host?: string | undefined },
    readonly listener?: string,
  ) {
    this.#socket = socket;
  }

  /** The client's address and port ('' and 0 when asked first after the socket closed). */
  get source(): Peer {
    if (this.#peer) return this.#peer;
    const address = this.#socket.remoteAddress;
    if (address === undefined) return UNKNOWN;
    this.#peer = { address, port: this.#socket.remotePort ?? 0 };
    return this.#peer;
  }
}
