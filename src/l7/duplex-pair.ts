import { Duplex } from 'node:stream';

/** One end of a pair: what is written to it is read from the other end, with backpressure. */
class PairEnd extends Duplex {
  other!: PairEnd;
  /** The other end's write callback, held while this end's reader is full. */
  private held: (() => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.other.push(chunk)) callback();
    else this.other.held = callback;
  }

  /** A corked batch (an HTTP/2 session's frames of one turn) crosses as one chunk: one write on the socket behind. */
  override _writev(chunks: { chunk: Buffer }[], callback: () => void): void {
    this._write(chunks.length === 1 ? (chunks[0] as { chunk: Buffer }).chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'latin1', callback);
  }

  override _read(): void {
    const held = this.held;
    this.held = undefined;
    held?.();
  }

  override _final(callback: () => void): void {
    this.other.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.other.destroyed) this.other.destroy();
    callback(err);
  }
}

/**
 * Two connected in-memory Duplex streams (node:stream's duplexPair arrived in Node 22): an
 * HTTP/2 session speaks on one end while the connection's fault chain carries the other.
 */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
