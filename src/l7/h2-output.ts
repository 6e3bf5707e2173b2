import { joined } from './http1-head.js';

/**
 * One direction's output of the HTTP/2 relay. Bytes that pass as they came are batched and
 * written once per chunk read (side-by-side slices of one chunk stay one view, no copy); frames
 * the relay writes itself (answers, resets, released holds) go between frames: while a frame
 * passes in pieces (a DATA frame spanning chunks), they wait for its last byte.
 */
export class FrameOutput {
  private batch: Buffer[] = [];
  private deferred: Buffer[] = [];
  private midFrame = false;
  /** Inside a chunk's processing: writes wait for `flush` at its end. */
  private busy = false;

  /** `ready`: frames of the relay's own may go (false until the server's preface SETTINGS passed). */
  constructor(private readonly write: (bytes: Buffer) => void, private ready = true) {}

  /** The peer's preface passed: the relay's own frames may follow it. */
  open(): void {
    if (this.ready) return;
    this.ready = true;
    if (!this.midFrame) this.release();
  }

  private release(): void {
    if (this.deferred.length === 0) return;
    this.batch.push(...this.deferred);
    this.deferred = [];
    if (!this.busy) this.flush();
  }

  /** Starts a chunk's batch. */
  begin(): void {
    this.busy = true;
  }

  /** Bytes of the frames passing, in order; `midFrame` while a frame is not complete yet. */
  pass(bytes: Buffer, midFrame: boolean): void {
    if (bytes.length > 0) this.batch.push(bytes);
    const wasMid = this.midFrame;
    this.midFrame = midFrame;
    if (wasMid && !midFrame && this.ready) this.release();
  }

  /** Whole frames of the relay's own, at the next frame boundary. */
  inject(frames: Buffer | Buffer[]): void {
    const list = Array.isArray(frames) ? frames : [frames];
    if (this.midFrame || !this.ready) this.deferred.push(...list);
    else this.batch.push(...list);
    if (!this.busy) this.flush();
  }

  /** Writes the batch (the end of a chunk, or an injection outside one). */
  flush(): void {
    this.busy = false;
    if (this.batch.length === 0) return;
    const bytes = joined(this.batch);
    this.batch = [];
    this.write(bytes);
  }

  /** Whether a frame is half written (nothing of the relay's own can go in now). */
  get inFrame(): boolean {
    return this.midFrame;
  }
}
