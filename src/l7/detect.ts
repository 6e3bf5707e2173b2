/**
 * What a connection's first client bytes say it speaks: an HTTP/1.x request line, the HTTP/2
 * connection preface (h2c with prior knowledge), a TLS ClientHello (with its server name), or
 * anything else. Reads at most MAX_PEEK_BYTES; never throws on any input.
 */

/** Bytes read before giving up on classification (the connection is then a plain pipe). */
export const MAX_PEEK_BYTES = 16 * 1024;

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type FirstBytes = { kind: 'http1' } | { kind: 'h2' } | { kind: 'tls'; sni: string | undefined } | { kind: 'other' };

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
  return { kind: 'tls', sni: serverName(hello) };
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

/** The host_name of a ClientHello's server_name extension, if it has one. */
export function serverName(hello: Buffer): string | undefined {
  try {
    let p = 2 + 32; // version, random
    p += 1 + (hello[p] as number); // session id
    p += 2 + hello.readUInt16BE(p); // cipher suites
    p += 1 + (hello[p] as number); // compression methods
    if (p + 2 > hello.length) return undefined;
    const end = Math.min(hello.length, p + 2 + hello.readUInt16BE(p));
    p += 2;
    while (p + 4 <= end) {
      const type = hello.readUInt16BE(p);
      const length = hello.readUInt16BE(p + 2);
      p += 4;
      if (type === 0 && p + 5 <= end) {
        // server_name_list: length(2), name_type(1) = 0 host_name, length(2), name
        const nameLength = hello.readUInt16BE(p + 3);
        if (hello[p + 2] !== 0 || p + 5 + nameLength > end) return undefined;
        const name = hello.toString('latin1', p + 5, p + 5 + nameLength);
        return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name.toLowerCase() : undefined;
      }
      p += length;
    }
  } catch {
    // A truncated or malformed hello: no name.
  }
  return undefined;
}
