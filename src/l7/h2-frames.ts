/**
 * HTTP/2 frames (RFC 9113 4, 6) as a relay needs them: an incremental reader that parses the
 * 9-byte headers of whatever bytes arrive and hands DATA payloads on as slices of the chunks
 * read (never copied, never buffered whole unless asked), and builders for the few frames the
 * relay writes itself. Malformed framing throws Http2ProtocolError with the RFC's error code.
 */
import { Http2ProtocolError } from '../errors.js';

export const enum FrameType {
  Data = 0,
  Headers = 1,
  Priority = 2,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  Goaway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}

export const enum Flag {
  EndStream = 0x1,
  Ack = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

/** RFC 9113 7. */
export const H2 = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The frame size every peer accepts (SETTINGS_MAX_FRAME_SIZE's initial value): what the relay writes at most. */
export const DEFAULT_MAX_FRAME = 16_384;
/** Largest header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs) the relay buffers. */
export const MAX_HEADER_BLOCK = 64 * 1024;

/** One frame's header, and its payload when the reader was asked to gather it whole. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  length: number;
  /** The 9 header bytes as read (a view of the chunk, or a copy when the header spanned two). */
  head: Buffer;
  /** The whole payload (gathered frames only). */
  payload: Buffer;
}

/** What the reader hands a frame's owner. */
export interface FrameSink {
  /**
   * A frame header was read: return true to have its payload gathered whole (then `frame`
   * gets it), false to have it handed on in pieces as it arrives (`piece`).
   */
  gather(frame: Frame): boolean;
  /** A gathered frame, complete. */
  frame(frame: Frame): void;
  /** Part of a frame's payload; `last` when it is the frame's last byte. */
  piece(frame: Frame, bytes: Buffer, last: boolean): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads frames from chunks as they come. `maxFrame` is the receiver's SETTINGS_MAX_FRAME_SIZE
 * (a longer frame is FRAME_SIZE_ERROR); a gathered frame is copied only when it spans chunks.
 */
export class FrameReader {
  /** Bytes of a header (or a gathered payload) that spanned the previous chunk. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private current: Frame | undefined;
  private gathering = false;
  /** Payload bytes of `current` still to come. */
  private left = 0;
  maxFrame = DEFAULT_MAX_FRAME;

  constructor(private readonly sink: FrameSink) {}

  /** True between frames (no header or payload half read). */
  get atBoundary(): boolean {
    return this.current === undefined && this.partialBytes === 0;
  }

  /** Parses `chunk`; throws Http2ProtocolError on a frame no peer may send. */
  push(chunk: Buffer): void {
    let p = 0;
    while (p < chunk.length) {
      const frame = this.current;
      if (frame) {
        const n = Math.min(this.left, chunk.length - p);
        const bytes = chunk.subarray(p, p + n);
        p += n;
        this.left -= n;
        if (!this.gathering) {
          this.sink.piece(frame, bytes, this.left === 0);
          if (this.left === 0) this.current = undefined;
          continue;
        }
        if (this.left > 0) {
          this.partial.push(bytes);
          this.partialBytes += n;
          continue;
        }
        frame.payload = this.partial.length === 0 ? bytes : Buffer.concat([...this.partial, bytes]);
        this.partial = [];
        this.partialBytes = 0;
        this.current = undefined;
        this.sink.frame(frame);
        continue;
      }
      // A header: whole in this chunk (a view), or put together from the pieces it spans.
      let head: Buffer;
      if (this.partialBytes === 0 && chunk.length - p >= 9) {
        head = chunk.subarray(p, p + 9);
        p += 9;
      } else {
        const n = Math.min(9 - this.partialBytes, chunk.length - p);
        this.partial.push(chunk.subarray(p, p + n));
        this.partialBytes += n;
        p += n;
        if (this.partialBytes < 9) return;
        head = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
      }
      this.begin(head);
    }
  }

  private begin(head: Buffer): void {
    const length = head.readUIntBE(0, 3);
    const frame: Frame = { type: head[3] as number, flags: head[4] as number, stream: head.readUInt32BE(5) & 0x7fffffff, length, head, payload: EMPTY };
    if (length > this.maxFrame) throw new Http2ProtocolError(H2.FRAME_SIZE_ERROR, `a frame of ${length} bytes (at most ${this.maxFrame})`);
    checkShape(frame);
    this.gathering = this.sink.gather(frame);
    if (length === 0) {
      if (this.gathering) this.sink.frame(frame);
      else this.sink.piece(frame, EMPTY, true);
      return;
    }
    this.current = frame;
    this.left = length;
  }
}

/** What RFC 9113 6 says of each known frame's stream and length, checked on its header. */
function error(code: number, what: string): never {
  throw new Http2ProtocolError(code, what);
}

function checkShape(f: Frame): void {
  const onStream = f.stream !== 0;
  switch (f.type) {
    case FrameType.Data:
    case FrameType.Headers:
    case FrameType.Continuation:
    case FrameType.PushPromise:
      if (!onStream) error(H2.PROTOCOL_ERROR, `frame type ${f.type} on stream 0`);
      if ((f.type === FrameType.Headers || f.type === FrameType.PushPromise) && f.length > MAX_HEADER_BLOCK) error(H2.ENHANCE_YOUR_CALM, 'header block too large');
      return;
    case FrameType.Priority:
      if (!onStream) error(H2.PROTOCOL_ERROR, 'PRIORITY on stream 0');
      if (f.length !== 5) error(H2.FRAME_SIZE_ERROR, 'PRIORITY of a length other than 5');
      return;
    case FrameType.RstStream:
      if (!onStream) error(H2.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
      if (f.length !== 4) error(H2.FRAME_SIZE_ERROR, 'RST_STREAM of a length other than 4');
      return;
    case FrameType.Settings:
      if (onStream) error(H2.PROTOCOL_ERROR, 'SETTINGS on a stream');
      if (f.length % 6 !== 0 || ((f.flags & Flag.Ack) !== 0 && f.length !== 0)) error(H2.FRAME_SIZE_ERROR, 'SETTINGS of a bad length');
      return;
    case FrameType.Ping:
      if (onStream) error(H2.PROTOCOL_ERROR, 'PING on a stream');
      if (f.length !== 8) error(H2.FRAME_SIZE_ERROR, 'PING of a length other than 8');
      return;
    case FrameType.Goaway:
      if (onStream) error(H2.PROTOCOL_ERROR, 'GOAWAY on a stream');
      if (f.length < 8) error(H2.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8');
      return;
    case FrameType.WindowUpdate:
      if (f.length !== 4) error(H2.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a length other than 4');
      return;
    default:
  }
}

/** The header block fragment of a HEADERS, PUSH_PROMISE or CONTINUATION payload (padding and priority removed). */
export function fragmentOf(type: number, flags: number, payload: Buffer): Buffer {
  if (type === FrameType.Continuation) return payload;
  let start = 0;
  let end = payload.length;
  if (flags & Flag.Padded) {
    if (payload.length < 1) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'padded frame without its pad length');
    start = 1;
    end -= payload[0] as number;
  }
  if (type === FrameType.Headers && flags & Flag.Priority) start += 5;
  if (type === FrameType.PushPromise) start += 4;
  if (end < start) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(start, end);
}

/** A frame's bytes. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  payload.copy(out, 9);
  return out;
}

/** A header block as HEADERS (or PUSH_PROMISE, with its promised id first) and CONTINUATIONs of at most DEFAULT_MAX_FRAME bytes. */
export function headerFrames(stream: number, block: Buffer, endStream: boolean, promised?: number): Buffer[] {
  const frames: Buffer[] = [];
  const first = promised === undefined ? block : Buffer.concat([u32(promised), block]);
  for (let p = 0; p < first.length || p === 0; p += DEFAULT_MAX_FRAME) {
    const part = first.subarray(p, p + DEFAULT_MAX_FRAME);
    const last = p + DEFAULT_MAX_FRAME >= first.length;
    const type = p > 0 ? FrameType.Continuation : promised === undefined ? FrameType.Headers : FrameType.PushPromise;
    const flags = (last ? Flag.EndHeaders : 0) | (p === 0 && endStream ? Flag.EndStream : 0);
    frames.push(frame(type, flags, stream, part));
  }
  return frames;
}

/** `body` as DATA frames of at most `size` bytes; END_STREAM on the last when `endStream`. */
export function dataFrames(stream: number, body: Buffer, endStream: boolean, size = DEFAULT_MAX_FRAME): Buffer[] {
  const frames: Buffer[] = [];
  for (let p = 0; p < body.length || p === 0; p += size) {
    const last = p + size >= body.length;
    frames.push(frame(FrameType.Data, last && endStream ? Flag.EndStream : 0, stream, body.subarray(p, p + size)));
  }
  return frames;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

export const rstStream = (stream: number, code: number): Buffer => frame(FrameType.RstStream, 0, stream, u32(code));
export const windowUpdate = (stream: number, increment: number): Buffer => frame(FrameType.WindowUpdate, 0, stream, u32(increment));
export const goaway = (lastStream: number, code: number): Buffer => frame(FrameType.Goaway, 0, 0, Buffer.concat([u32(lastStream), u32(code)]));
