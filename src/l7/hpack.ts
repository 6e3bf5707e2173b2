/**
 * HPACK (RFC 7541), as much as a relay needs: a decoder that follows one peer's encoder
 * (static and dynamic tables, integers, string literals, Huffman), and an encoder that only
 * writes static-table references and literals without indexing, so that what it writes never
 * changes the receiver's dynamic table. Names and values are latin1 strings (one char per
 * octet), so a decoded field re-encodes to the same octets.
 */
import { Http2ProtocolError } from '../errors.js';
import { huffmanDecode, HuffmanError } from './hpack-huffman.js';

/** HTTP/2's COMPRESSION_ERROR: what a header block that does not decode is. */
const COMPRESSION_ERROR = 9;

/** A header block that cannot be decoded, or is over a limit: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Http2ProtocolError {
  constructor(message: string) {
    super(COMPRESSION_ERROR, message);
    this.name = 'HpackError';
  }
}

/** RFC 7541 Appendix A, index 1-61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'],
  ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''], ['content-location', ''], ['content-range', ''],
  ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''],
  ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** What a decoded header block is: its fields, in order, as [name, value, name, value, ...]. */
export interface HeaderBlock {
  readonly fields: string[];
  /** The block inserted entries or resized the table: the receiver's table moved with it. */
  readonly changedTable: boolean;
  /** Dynamic table size updates at its start, in order (a re-encoded block must carry them on). */
  readonly sizeUpdates: readonly number[];
}

/** The size of an entry, as RFC 7541 4.1 counts it. */
const entrySize = (name: string, value: string) => name.length + value.length + 32;

/**
 * Follows one encoder: decodes each header block in order, keeping the dynamic table as the
 * encoder keeps it. `maxTableSize` is the receiver's SETTINGS_HEADER_TABLE_SIZE (what a size
 * update may ask for); `maxListSize` caps a block's decoded size (names, values, 32 per field).
 */
export class HpackDecoder {
  /** Newest last: dynamic index i is entries[length - i]. */
  private readonly names: string[] = [];
  private readonly values: string[] = [];
  private size = 0;
  private tableLimit = 4096;

  constructor(public maxTableSize = 4096, private readonly maxListSize = 256 * 1024) {}

  /** Decodes one complete header block. Throws HpackError; the decoder is unusable after. */
  decode(block: Buffer): HeaderBlock {
    const fields: string[] = [];
    let sizeUpdates: number[] = NO_UPDATES;
    let changedTable = false;
    let listSize = 0;
    const cursor = this.cursor;
    cursor.p = 0;
    const end = block.length;
    while (cursor.p < end) {
      const byte = block[cursor.p] as number;
      let name: string;
      let value: string;
      if (byte & 0x80) {
        // Indexed field.
        const index = readInt(block, cursor, 7);
        if (index === 0) throw new HpackError('indexed field 0');
        if (index <= STATIC_TABLE.length) {
          const entry = STATIC_TABLE[index - 1] as readonly [string, string];
          name = entry[0];
          value = entry[1];
        } else {
          const at = this.dynamicAt(index);
          name = this.names[at] as string;
          value = this.values[at] as string;
        }
      } else if ((byte & 0xe0) === 0x20) {
        // Dynamic table size update: only before the first field.
        const size = readInt(block, cursor, 5);
        if (fields.length > 0) throw new HpackError('table size update after a field');
        if (size > this.maxTableSize) throw new HpackError(`table size update to ${size} over ${this.maxTableSize}`);
        this.tableLimit = size;
        this.evict(0);
        if (sizeUpdates === NO_UPDATES) sizeUpdates = [];
        sizeUpdates.push(size);
        changedTable = true;
        continue;
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (byte & 0xc0) === 0x40;
        const index = readInt(block, cursor, indexing ? 6 : 4);
        if (index === 0) name = readString(block, cursor);
        else if (index <= STATIC_TABLE.length) name = (STATIC_TABLE[index - 1] as readonly [string, string])[0];
        else name = this.names[this.dynamicAt(index)] as string;
        value = readString(block, cursor);
        if (indexing) {
          this.insert(name, value);
          changedTable = true;
        }
      }
      listSize += name.length + value.length + 32;
      if (listSize > this.maxListSize) throw new HpackError(`header list over ${this.maxListSize} bytes`);
      fields.push(name, value);
    }
    return { fields, changedTable, sizeUpdates };
  }

  private readonly cursor = { p: 0 };

  /** Where dynamic index `index` (62 and up) is in the arrays. */
  private dynamicAt(index: number): number {
    const at = this.names.length - (index - STATIC_TABLE.length);
    if (at < 0) throw new HpackError(`index ${index} beyond the table`);
    return at;
  }

  private insert(name: string, value: string): void {
    const size = entrySize(name, value);
    this.evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    if (size > this.tableLimit) return;
    this.names.push(name);
    this.values.push(value);
    this.size += size;
  }

  /** Evicts oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    let drop = 0;
    while (drop < this.names.length && this.size + room > this.tableLimit) this.size -= entrySize(this.names[drop] as string, this.values[drop++] as string);
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
    }
  }
}

const NO_UPDATES: number[] = [];

/** Buffer's latin1 slice without toString's encoding lookup (a public method @types/node leaves out). */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** A read position in a block. */
export interface Cursor {
  p: number;
}

/** Reads an integer with an N-bit prefix (RFC 7541 5.1) at `cursor`, moving it past. */
export function readInt(buf: Buffer, cursor: Cursor, prefix: number): number {
  const max = (1 << prefix) - 1;
  let p = cursor.p;
  let value = (buf[p++] as number) & max;
  if (value < max) {
    cursor.p = p;
    return value;
  }
  let shift = 0;
  for (;;) {
    if (p >= buf.length) throw new HpackError('truncated integer');
    const b = buf[p++] as number;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    // No field or table is anywhere near 2^28: longer integers are an attack, not a header.
    if (shift > 28) throw new HpackError('integer too large');
  }
  cursor.p = p;
  return value;
}

function readString(buf: Buffer, cursor: Cursor): string {
  if (cursor.p >= buf.length) throw new HpackError('truncated string');
  const huffman = ((buf[cursor.p] as number) & 0x80) !== 0;
  const length = readInt(buf, cursor, 7);
  const start = cursor.p;
  const end = start + length;
  if (end > buf.length) throw new HpackError('truncated string');
  cursor.p = end;
  if (!huffman) return (buf as Latin1Buffer).latin1Slice(start, end);
  try {
    return huffmanDecode(buf, start, end);
  } catch (err) {
    if (err instanceof HuffmanError) throw new HpackError(err.message);
    throw err;
  }
}

/** "name\0value" and "name" to their static index. */
const STATIC_FIELD = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  STATIC_FIELD.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

/**
 * Encodes fields without touching the receiver's dynamic table: a static-table match as an
 * indexed field, everything else as a literal without indexing (static name index where there
 * is one), strings raw. `sizeUpdates` go first, as the block they came from had them.
 */
export function encodeBlock(fields: readonly string[], sizeUpdates: readonly number[] = []): Buffer {
  let length = sizeUpdates.length * 6;
  for (let i = 0; i < fields.length; i++) length += (fields[i] as string).length + 6;
  const out = Buffer.allocUnsafe(length);
  let p = 0;
  for (const size of sizeUpdates) p = writeInt(out, p, 5, 0x20, size);
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    const full = STATIC_FIELD.get(`${name}\0${value}`);
    if (full !== undefined) {
      p = writeInt(out, p, 7, 0x80, full);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) p = writeInt(out, p, 4, 0, nameIndex);
    else {
      out[p++] = 0;
      p = writeString(out, p, name);
    }
    p = writeString(out, p, value);
  }
  return out.subarray(0, p);
}

function writeInt(out: Buffer, p: number, prefix: number, flags: number, value: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out[p++] = flags | value;
    return p;
  }
  out[p++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    out[p++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[p++] = value;
  return p;
}

function writeString(out: Buffer, p: number, text: string): number {
  p = writeInt(out, p, 7, 0, text.length);
  return p + out.write(text, p, 'latin1');
}
