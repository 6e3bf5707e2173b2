import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * The one HOST:PORT parser: `db.default.svc:5432`, `10.0.0.1:80`, `[::1]:8080`; the port is
 * numeric, 0-65535 (0: pick a free one, where binding). With `emptyHost`, `:8080` means
 * that host. Undefined when `value` is not HOST:PORT.
 */
export function parseHostPort(value: string, options: { emptyHost?: string } = {}): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2] || options.emptyHost;
  return host ? { host, port } : undefined;
}

/** HOST:PORT text for a host and port, IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A HOST:PORT command-line value (`:PORT` binds `emptyHost`, every interface unless told); a UsageError naming `what` otherwise. */
export function hostPortFlag(value: string, what: string, emptyHost = '0.0.0.0'): { host: string; port: number } {
  const parsed = parseHostPort(value, { emptyHost });
  if (!parsed) throw new UsageError(`${what}: expected HOST:PORT (e.g. 127.0.0.1:15000), got "${value}"`);
  return parsed;
}

/** Whether a host is loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
