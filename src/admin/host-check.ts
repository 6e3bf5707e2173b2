import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { RequestError } from '../errors.js';

/**
 * DNS rebinding guard of the admin and Toxiproxy APIs. A page from evil.example whose name is
 * rebound to 127.0.0.1 reaches the API with `Host: evil.example:15000`; a request from a real
 * client names the API by an IP (the Kubernetes API server's pod proxy dials the pod's IP and
 * sends it as Host, `kubectl port-forward` sends 127.0.0.1 or localhost), by localhost, by the
 * pod's name (its hostname), or by a name the operator allows (--admin-allowed-hosts). An IP
 * literal cannot be rebound: a page naming it is its own origin. A request without a Host
 * header (HTTP/1.0) comes from no browser and passes.
 */
export class HostCheck {
  private readonly names: Set<string>;

  constructor(allowed: readonly string[] = []) {
    this.names = new Set(['localhost', hostname(), ...allowed].map((n) => n.toLowerCase().replace(/\.$/, '')));
  }

  /** Whether a Host header's value (with or without a port) is allowed. */
  allows(host: string | undefined): boolean {
    if (host === undefined) return true;
    const name = (/^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '')).toLowerCase().replace(/\.$/, '');
    return isIP(name) !== 0 || this.names.has(name) || name.endsWith('.localhost');
  }

  /** Throws a 403 RequestError for a request whose Host is not allowed. */
  require(req: IncomingMessage): void {
    if (this.allows(req.headers.host)) return;
    throw new RequestError(403, 'host_not_allowed', `Host "${req.headers.host}" is not an address of this sidecar: name it by IP, localhost or the pod's name, or allow the name with --admin-allowed-hosts`);
  }
}
