import { z } from 'zod';
import { size } from '../policy/units.js';
import { FaultStage } from './stage.js';
import { defineFault, type StageContext } from './types.js';

/** Between the last byte let through and the RST. */
const RESET_GRACE_MS = 20;

interface ResetOptions {
  /** Reset once this many bytes have passed in the fault's direction; absent = at once. */
  bytes?: number | undefined;
}

/** Passes `bytes` in its direction, then resets the connection. */
class ResetAfterBytesStage extends FaultStage {
  private armed = false;

  constructor(private readonly bytes: number, ctx: StageContext) {
    super(ctx);
    ctx.state.passed ??= 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.interrupted) return this.pass(chunk, callback);
    const state = this.ctx.state as { passed: number };
    const left = this.bytes - state.passed;
    if (left > 0) {
      const piece = chunk.length <= left ? chunk : chunk.subarray(0, left);
      state.passed += piece.length;
      this.push(piece);
    }
    if (state.passed >= this.bytes && !this.armed) {
      // An RST that lands with unread data can read as a clean EOF on Linux: give the peer a
      // moment to read the bytes it was promised, then reset.
      this.armed = true;
      this.wait(RESET_GRACE_MS, () => this.ctx.conn.reset(`reset after ${this.bytes} bytes`));
    }
    callback();
  }
}

/**
 * TCP RST to both peers (Toxiproxy's reset_peer). Time it with the common `after` ("reset 2 s
 * into the connection") or with `bytes`; on its own it cuts new and live connections at once.
 */
export const reset = defineFault<ResetOptions>({
  type: 'reset',
  summary: 'reset the connection (TCP RST), at once, at `after`, or after `bytes`',
  options: z.strictObject({ bytes: size.optional() }),
  defaultStream: 'downstream',
  timeBounds: true,
  randomDefault: { type: 'reset' },
  activate: (options, conn) => {
    if (options.bytes === undefined) conn.reset('reset fault');
  },
  stage: (options, ctx) => (options.bytes === undefined ? undefined : new ResetAfterBytesStage(options.bytes, ctx)),
});
