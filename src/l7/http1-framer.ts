import { Transform, type TransformCallback } from 'node:stream';
import type { StreamDirection } from '../faults/types.js';
import { joined, type BodyFramer } from './http1-head.js';
import type { L7Host } from './host.js';
import type { WsRelay } from './websocket.js';

export const EMPTY = Buffer.alloc(0);

/**
 * What the two halves of HTTP/1.1 inspection share: the bytes read but not yet framed, the
 * body being framed, the batch of bytes passed on per chunk read (one write, not one per head
 * and body), and the WebSocket relay once a 101 upgraded the connection.
 */
export abstract class Http1Framer extends Transform {
  protected input: Buffer = EMPTY;
  protected body: BodyFramer | undefined;
  private readonly batch: Buffer[] = [];
  /** WebSocket framing of this direction's bytes once upgraded. */
  ws: WsRelay | undefined;
  /** Called when the reader wants more (WebSocket backpressure). */
  onPull: (() => void) | undefined;

  constructor(protected readonly host: L7Host, private readonly direction: StreamDirection) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(size: number): void {
    super._read(size);
    this.onPull?.();
  }

  /**
   * Frames what was read, synchronously; a promise when it must wait (a hold, a paced
   * response, an upgrade), after which framing goes on from where it stopped.
   */
  protected abstract frame(): Promise<void> | undefined;

  /**
   * Frames, then passes on what the framing let through, in one write. Nothing waits in the
   * common case: the bytes go on and `callback` runs before `pump` returns, no promise made.
   */
  protected pump(callback: TransformCallback, onError: (err: unknown, callback: TransformCallback) => void): void {
    let waiting: Promise<void> | undefined;
    try {
      waiting = this.frame();
    } catch (err) {
      this.flushOut();
      return onError(err, callback);
    }
    this.flushOut();
    if (!waiting) return callback();
    waiting.then(
      () => (this.destroyed ? callback() : this.pump(callback, onError)),
      (err: unknown) => {
        this.flushOut();
        onError(err, callback);
      },
    );
  }

  protected wsInput(chunk: Buffer, done: () => void): void {
    if (this.ws) this.ws.input(this.direction, chunk, () => done());
    else done();
  }

  /** Queues bytes for the batch's write. */
  protected send(bytes: Buffer): void {
    this.batch.push(bytes);
  }

  /** Writes the batch now (before a wait, or before bytes that must come after it). */
  protected flushOut(): void {
    if (this.batch.length === 0) return;
    const bytes = joined(this.batch);
    this.batch.length = 0;
    this.push(bytes);
  }
}
