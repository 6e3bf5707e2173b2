import { createServer, type Server, type Socket } from 'node:net';
import { ListenError } from '../errors.js';
import type { ConnectionMeta } from '../policy/match.js';

/** Where an accepted socket goes and how rules see it; undefined drops the socket (RST). */
export type Resolve = (socket: Socket) => { meta: ConnectionMeta; target: { host: string; port: number } } | undefined;

/**
 * A bound TCP listener handing accepted sockets to `onSocket`. Sockets arrive paused
 * (nothing is read before the upstream answers) and half-open capable.
 */
export class ProxyListener {
  private readonly server: Server;
  private bound: { address: string; port: number } | undefined;

  constructor(
    readonly name: string,
    private readonly host: string,
    private readonly port: number,
    onSocket: (socket: Socket) => void,
  ) {
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, onSocket);
  }

  /** The address actually bound (port 0 resolved). */
  get address(): { address: string; port: number } {
    if (!this.bound) throw new ListenError(`listener ${this.name} is not bound`);
    return this.bound;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new ListenError(`cannot listen on ${this.host}:${this.port}: ${err.code ?? err.message}`, { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port: this.port, backlog: 4096 }, () => {
        this.server.off('error', onError);
        const info = this.server.address();
        if (info && typeof info === 'object') this.bound = { address: info.address, port: info.port };
        resolve();
      });
    });
  }

  /**
   * Stops accepting at once. Live connections are left to their owner (net.Server's own
   * close callback would wait for all of them).
   */
  close(): void {
    this.server.close();
  }
}
