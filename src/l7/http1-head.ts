/**
 * HTTP/1.x message heads and body framing, read without copying the bytes: a head is parsed
 * for the fields faults need (method, path, headers, how the body is framed) and forwarded as
 * the original bytes. Only what RFC 9112 requires to frame messages safely is enforced.
 */

import { FaultlineError } from '../errors.js';

/** Longest head accepted; a longer request head is answered 431. */
export const MAX_HEAD_BYTES = 16 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export type BodyKind = 'none' | 'length' | 'chunked' | 'close';

export interface MessageHead {
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  minor: number;
  body: BodyKind;
  length: number;
}

export interface RequestHead extends MessageHead {
  method: string;
  target: string;
  /** Target without query string. */
  path: string;
  /** Connection: upgrade with an Upgrade header (lower case, e.g. "websocket"). */
  upgrade: string | undefined;
}

export interface ResponseHead extends MessageHead {
  status: number;
}

/** A head or body that cannot be framed: the status to answer (400, 431; 502 for upstream heads). */
export class HeadError extends FaultlineError {
  constructor(readonly status: number, message: string) {
    super('FL_ERR_HTTP_FRAMING', message);
    this.name = 'HeadError';
  }
}

/**
 * Bytes to send as one write: pieces that lie side by side in one buffer (a head and the body
 * after it, as read) are one view of it, no copy; others are copied together.
 */
export function joined(parts: Buffer[]): Buffer {
  const first = parts[0] as Buffer;
  if (parts.length === 1) return first;
  let end = first.byteOffset + first.length;
  let adjacent = true;
  for (let i = 1; i < parts.length && adjacent; i++) {
    const part = parts[i] as Buffer;
    adjacent = part.buffer === first.buffer && part.byteOffset === end;
    end += part.length;
  }
  return adjacent ? Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset) : Buffer.concat(parts);
}

/** Offset just past the blank line ending a head, or -1 when not complete yet. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

/** Throws HeadError(status) when `buf` has an LF not after a CR, or a CR not before an LF. */
export function checkLineBreaks(buf: Buffer, status: number): void {
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) throw new HeadError(status, 'bare LF in the head');
  }
  for (let i = buf.indexOf(13); i >= 0 && i + 1 < buf.length; i = buf.indexOf(13, i + 1)) {
    if (buf[i + 1] !== 10) throw new HeadError(status, 'bare CR in the head');
  }
}

function parseFields(lines: string[], status: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new HeadError(status, `malformed header line ${JSON.stringify(line.slice(0, 40))}`);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) throw new HeadError(status, `invalid characters in header ${name}`);
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  return headers;
}

function framing(headers: Record<string, string>, status: number): { body: BodyKind; length: number } {
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined) throw new HeadError(status, 'both Transfer-Encoding and Content-Length');
    if (!/(^|,)\s*chunked\s*$/i.test(te)) return { body: 'close', length: 0 };
    return { body: 'chunked', length: 0 };
  }
  if (cl !== undefined) {
    const values = new Set(cl.split(',').map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only as string)) throw new HeadError(status, `invalid Content-Length ${JSON.stringify(cl)}`);
    const length = Number(only);
    return { body: length > 0 ? 'length' : 'none', length };
  }
  return { body: 'none', length: 0 };
}

function split(head: Buffer): string[] {
  return head.toString('latin1', 0, head.length - 4).split('\r\n');
}

/** Method, target and minor version of a request line; HeadError(400) when it is malformed. */
function requestLineParts(requestLine: string): RegExpExecArray {
  const m = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(requestLine);
  if (!m || !TOKEN.test(m[1] as string) || !TARGET.test(m[2] as string)) throw new HeadError(400, `malformed request line ${JSON.stringify(requestLine.slice(0, 60))}`);
  return m;
}

/**
 * Throws HeadError(400) when the complete lines of a request head that has not ended yet already
 * show it malformed (its request line or a field line). Node's own parser refuses at the first
 * bad line too: the client is answered at once, not left waiting for a blank line that may never
 * come. Only for heads split across reads.
 */
export function checkPartialRequestHead(buf: Buffer): void {
  const last = buf.lastIndexOf('\r\n');
  if (last < 0) return;
  const [requestLine = '', ...lines] = buf.toString('latin1', 0, last).split('\r\n');
  requestLineParts(requestLine);
  parseFields(lines, 400);
  // The field line still coming: its name so far must be a token (a lone CR may begin the blank line).
  const tail = buf.toString('latin1', last + 2);
  const colon = tail.indexOf(':');
  const name = colon < 0 ? tail : tail.slice(0, colon);
  if (tail !== '\r' && name !== '' && !TOKEN.test(name)) throw new HeadError(400, `malformed header line ${JSON.stringify(tail.slice(0, 40))}`);
  if (colon === 0) throw new HeadError(400, `malformed header line ${JSON.stringify(tail.slice(0, 40))}`);
}

/** Parses a request head (the bytes up to and including the blank line). Throws HeadError. */
export function parseRequestHead(head: Buffer): RequestHead {
  const [requestLine = '', ...lines] = split(head);
  const m = requestLineParts(requestLine);
  const headers = parseFields(lines, 400);
  const { body, length } = framing(headers, 400);
  // A request body is never close-delimited (RFC 9112 6.3): an unknown coding cannot be framed.
  if (body === 'close') throw new HeadError(400, 'unsupported Transfer-Encoding');
  const target = m[2] as string;
  const q = target.indexOf('?');
  const connection = (headers.connection ?? '').toLowerCase();
  const upgrade = /(^|,)\s*upgrade\s*(,|$)/.test(connection) && headers.upgrade ? headers.upgrade.toLowerCase() : undefined;
  return { method: m[1] as string, target, path: q < 0 ? target : target.slice(0, q), minor: Number(m[3]), headers, body, length, upgrade };
}

/** Parses a response head; `method` is the request's, for HEAD's bodiless responses. */
export function parseResponseHead(head: Buffer, method: string | undefined): ResponseHead {
  const [statusLine = '', ...lines] = split(head);
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new HeadError(502, `malformed status line ${JSON.stringify(statusLine.slice(0, 60))}`);
  const status = Number(m[2]);
  const headers = parseFields(lines, 502);
  let { body, length } = framing(headers, 502);
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) (body = 'none'), (length = 0);
  else if (body === 'none' && headers['content-length'] === undefined) body = 'close';
  return { status, minor: Number(m[1]), headers, body, length };
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

/**
 * Finds where a body ends, chunk by chunk, without copying it: `consume` says how many of the
 * given bytes belong to the body. Chunked bodies are followed through sizes, data and trailers.
 */
export class BodyFramer {
  done: boolean;
  private remaining: number;
  private state = Chunk.Size;
  private line = '';
  private lineBytes = 0;

  constructor(private readonly kind: BodyKind, length: number) {
    this.remaining = length;
    this.done = kind === 'none' || (kind === 'length' && length === 0);
  }

  /** A close-delimited body: it ends when the connection does. */
  get untilClose(): boolean {
    return this.kind === 'close';
  }

  /** Bytes of `buf` (from `offset`) that belong to the body. Throws HeadError(400) on bad chunking. */
  consume(buf: Buffer, offset = 0): number {
    if (this.done) return 0;
    const available = buf.length - offset;
    if (this.kind === 'close') return available;
    if (this.kind === 'length') {
      const n = Math.min(available, this.remaining);
      this.remaining -= n;
      this.done = this.remaining === 0;
      return n;
    }
    let i = offset;
    while (i < buf.length && !this.done) {
      if (this.state === Chunk.Data) {
        const n = Math.min(buf.length - i, this.remaining);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) (this.state = Chunk.DataEnd), (this.lineBytes = 0);
        continue;
      }
      const byte = buf[i++] as number;
      if (this.state === Chunk.DataEnd) {
        if (byte !== (this.lineBytes === 0 ? 13 : 10)) throw new HeadError(400, 'chunk data not followed by CRLF');
        if (++this.lineBytes === 2) this.state = Chunk.Size;
        continue;
      }
      if (byte !== 10) {
        if (++this.lineBytes > 4096) throw new HeadError(400, 'chunk line too long');
        if (this.state === Chunk.Size) this.line += String.fromCharCode(byte);
        continue;
      }
      if (this.state === Chunk.Size) this.sizeLine();
      else if (this.lineBytes <= 1) this.done = true;
      this.line = '';
      this.lineBytes = 0;
    }
    return i - offset;
  }

  private sizeLine(): void {
    const m = /^([0-9a-fA-F]{1,12})[ \t]*(;[^\r]*)?\r$/.exec(this.line);
    if (!m) throw new HeadError(400, `malformed chunk size ${JSON.stringify(this.line.slice(0, 20))}`);
    this.remaining = parseInt(m[1] as string, 16);
    this.state = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
  }
}
