/**
 * What a connection's first client bytes say it speaks: an HTTP/1.x request line, the HTTP/2
 * connection preface (h2c with prior knowledge), a TLS ClientHello (with its server name), or
 * anything else. Reads at most MAX_PEEK_BYTES; never throws on any input.
 */

/** Bytes read before giving up on classification (the connection is then a plain pipe). */
export const MAX_PEEK_BYTES = 16 * 1024;

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A TLS ClientHello's server name and ALPN protocols (undefined: the extension is not there). */
export interface TlsHello {
  kind: 'tls';
  sni: string | undefined;
  alpn?: string[] | undefined;
}

export type FirstBytes = { kind: 'http1' } | { kind: 'h2' } | TlsHello | { kind: 'other' };

const METHOD_CHAR = (b: number) => b >= 0x41 && b <= 0x5a;

/** Classifies the bytes read so far; undefined when more are needed to tell. */
export function classify(buf: Buffer): FirstBytes | undefined {
  if (buf.length === 0) return undefined;
  const first = buf[0] as number;
  if (first === 0x16) return classifyTls(buf);
  if (!METHOD_CHAR(first)) return { kind: 'other' };
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return n === H2_PREFACE.length ? { kind: 'h2' } : undefined;
  for (let i = 0; i < buf.length && i <= 20; i++) {
    const b = buf[i] as number;
    if (b === 0x20) return i > 0 ? { kind: 'http1' } : { kind: 'other' };
    if (!METHOD_CHAR(b) && b !== 0x2d && b !== 0x5f) return { kind: 'other' };
  }
  return buf.length > 20 ? { kind: 'other' } : undefined;
}

function classifyTls(buf: Buffer): FirstBytes | undefined {
  if (buf.length >= 2 && buf[1] !== 0x03) return { kind: 'other' };
  const hello = handshakeMessage(buf);
  if (hello === undefined) return buf.length >= MAX_PEEK_BYTES ? { kind: 'tls', sni: undefined } : undefined;
  if (hello === null) return { kind: 'other' };
  const alpn = alpnProtocols(hello);
  return { kind: 'tls', sni: serverName(hello), ...(alpn ? { alpn } : {}) };
}

/**
 * The first handshake message, reassembled from as many TLS records as it spans; undefined
 * when incomplete, null when these are not TLS handshake records.
 */
function handshakeMessage(buf: Buffer): Buffer | null | undefined {
  const parts: Buffer[] = [];
  let have = 0;
  let offset = 0;
  while (offset + 5 <= buf.length) {
    if (buf[offset] !== 0x16 || buf[offset + 1] !== 0x03) return null;
    const length = buf.readUInt16BE(offset + 3);
    if (length === 0 || length > 16384 + 2048) return null;
    if (offset + 5 + length > buf.length) return undefined;
    parts.push(buf.subarray(offset + 5, offset + 5 + length));
    have += length;
    offset += 5 + length;
    const message = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (have >= 4) {
      if (message[0] !== 0x01) return null;
      const size = message.readUIntBE(1, 3);
      if (have >= size + 4) return message.subarray(4, size + 4);
    }
  }
  return undefined;
}

/** The body of a ClientHello's extension of `type`, if it has one. */
function extension(hello: Buffer, type: number): Buffer | undefined {
  try {
    let p = 2 + 32; // version, random
    p += 1 + (hello[p] as number); // session id
    p += 2 + hello.readUInt16BE(p); // cipher suites
    p += 1 + (hello[p] as number); // compression methods
    if (p + 2 > hello.length) return undefined;
    const end = Math.min(hello.length, p + 2 + hello.readUInt16BE(p));
    p += 2;
    while (p + 4 <= end) {
      const length = hello.readUInt16BE(p + 2);
      if (hello.readUInt16BE(p) === type) return p + 4 + length <= end ? hello.subarray(p + 4, p + 4 + length) : undefined;
      p += 4 + length;
    }
  } catch {
    // A truncated or malformed hello: no extension.
  }
  return undefined;
}

/** The host_name of a ClientHello's server_name extension, if it has one. */
export function serverName(hello: Buffer): string | undefined {
  // server_name_list: length(2), name_type(1) = 0 host_name, length(2), name
  const list = extension(hello, 0);
  if (!list || list.length < 5 || list[2] !== 0) return undefined;
  const nameLength = list.readUInt16BE(3);
  if (5 + nameLength > list.length) return undefined;
  const name = list.toString('latin1', 5, 5 + nameLength);
  return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name.toLowerCase() : undefined;
}

/** The protocols of a ClientHello's ALPN extension (RFC 7301), in the client's order, if it has one. */
export function alpnProtocols(hello: Buffer): string[] | undefined {
  const list = extension(hello, 16);
  if (!list || list.length < 2) return undefined;
  const end = Math.min(list.length, 2 + list.readUInt16BE(0));
  const protocols: string[] = [];
  for (let p = 2; p < end; ) {
    const length = list[p] as number;
    if (length === 0 || p + 1 + length > end) return undefined;
    protocols.push(list.toString('latin1', p + 1, p + 1 + length));
    p += 1 + length;
  }
  return protocols;
}
