import { formatHostPort, parseHostPort } from '../net/address.js';

/** Where a mirror fault sends its shadow requests. */
export interface MirrorUpstream {
  /** `http://host:port` or `https://host:port`: what the shadow pools connect to. */
  readonly origin: string;
  readonly secure: boolean;
}

/**
 * A mirror `upstream`: HOST:PORT (plain HTTP; the one HOST:PORT parser) or an http:// or
 * https:// URL without path, query or credentials. Undefined when it is neither.
 */
export function parseMirrorUpstream(value: string): MirrorUpstream | undefined {
  const hostPort = parseHostPort(value);
  if (hostPort) return { origin: `http://${formatHostPort(hostPort.host, hostPort.port)}`, secure: false };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) return undefined;
  return { origin: url.origin, secure: url.protocol === 'https:' };
}
