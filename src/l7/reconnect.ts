import type { TransformCallback } from 'node:stream';
import { FaultStage } from '../faults/stage.js';
import type { StageContext } from '../faults/types.js';
import { classify } from './detect.js';

/** How long a plain-pipe HTTP/2 connection's server side stays quiet before GOAWAY goes in (ms). */
export const H2_QUIET_MS = 100;
/** GOAWAY, last stream 2^31-1 (every stream the client opened may complete), NO_ERROR. */
const GOAWAY = Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
/** A response head at the start of a chunk: not 1xx (a 101 turns the connection into something else). */
const RESPONSE_START = /^HTTP\/1\.[01] [2-5]\d\d /;
const UPGRADED = /^HTTP\/1\.[01] 101 /;

/** What a plain pipe's first client bytes showed, for reaching it later: HTTP/1.x, h2c, or neither. */
export type PlainKind = 'http1' | 'h2' | 'other';

/** Classifies a plain pipe's first client chunk (once per connection, nothing per chunk after). */
export function plainKind(chunk: Buffer): PlainKind {
  const kind = classify(chunk)?.kind;
  return kind === 'http1' || kind === 'h2' ? kind : 'other';
}

/**
 * Has a plain-pipe HTTP connection opened before an L7 rule reconnect, so that its next
 * requests go through inspection, with no error on the client: a stage on the server→client
 * direction that, on HTTP/1.1, adds `connection: close` to the next response head (the client
 * closes after that response), and on HTTP/2 sends GOAWAY (NO_ERROR, every stream allowed to
 * finish) where it lands between frames: after a server chunk that walks as whole frames to
 * its last byte (nghttp2 writes whole frames), or once the server side was quiet H2_QUIET_MS.
 * Otherwise the bytes pass as they are; once done it is a pass-through.
 */
export class ReconnectStage extends FaultStage {
  private done = false;

  constructor(private readonly kind: 'http1' | 'h2', ctx: StageContext, private readonly onDone: () => void) {
    super(ctx);
    if (kind === 'h2') this.wait(H2_QUIET_MS, () => this.goaway());
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.done || this.interrupted) return this.pass(chunk, callback);
    if (this.kind === 'h2') {
      this.push(chunk);
      // GOAWAY goes between frames: after a chunk that is whole frames, or after a quiet spell.
      if (wholeFrames(chunk)) this.goaway();
      else this.wait(H2_QUIET_MS, () => this.goaway());
      return callback();
    }
    const start = chunk.toString('latin1', 0, Math.min(chunk.length, 16));
    if (UPGRADED.test(start)) return this.finish(chunk, callback);
    const eol = RESPONSE_START.test(start) ? chunk.indexOf('\r\n') : -1;
    if (eol < 0) return this.pass(chunk, callback);
    this.push(chunk.subarray(0, eol + 2));
    this.push(Buffer.from('connection: close\r\n', 'latin1'));
    this.finish(chunk.subarray(eol + 2), callback);
  }

  private goaway(): void {
    if (this.done || this.interrupted || this.destroyed) return;
    this.push(GOAWAY);
    this.done = true;
    this.onDone();
  }

  private finish(rest: Buffer, callback: TransformCallback): void {
    this.done = true;
    this.cancelWait();
    this.onDone();
    this.pass(rest, callback);
  }
}

/** Whether `chunk` is a run of whole HTTP/2 frames (valid types, reserved bit clear) ending at its last byte. */
export function wholeFrames(chunk: Buffer): boolean {
  let p = 0;
  while (p + 9 <= chunk.length) {
    if ((chunk[p + 3] as number) > 9 || ((chunk[p + 5] as number) & 0x80) !== 0) return false;
    p += 9 + chunk.readUIntBE(p, 3);
  }
  return p === chunk.length && p > 0;
}
