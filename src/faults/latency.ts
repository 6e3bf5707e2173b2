import { z } from 'zod';
import { duration } from '../policy/units.js';
import { DatagramStageBase } from './datagram-stage.js';
import { FaultStage } from './stage.js';
import { defineFault, type DatagramContext, type StageContext } from './types.js';

interface LatencyOptions {
  latency: number;
  jitter: number;
}

/** Bytes held in the delay queue before the stage stops accepting more. */
const MAX_QUEUED = 256 * 1024;

/**
 * Delays every chunk by `latency` ± `jitter` from the moment it arrived. Chunks keep their
 * order: a chunk never leaves before the one ahead of it, whatever its own jitter.
 */
class LatencyStage extends FaultStage {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private waiting: (() => void) | undefined;
  private flushed: (() => void) | undefined;

  constructor(private readonly options: LatencyOptions, ctx: StageContext) {
    super(ctx);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    if (this.interrupted) return this.pass(chunk, callback);
    const { latency, jitter } = this.options;
    const delay = Math.max(0, latency + (jitter ? jitter * (2 * this.ctx.random() - 1) : 0));
    const now = performance.now();
    // Nothing held and nothing to wait for: pass on at once (a 0 ms fault costs no timer).
    if (delay <= 0 && this.queue.length === 0) return this.pass(chunk, callback);
    const due = Math.max(now + delay, this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    this.queuedBytes += chunk.length;
    this.schedule();
    if (this.queuedBytes < MAX_QUEUED) callback();
    else this.waiting = callback;
  }

  override _flush(callback: () => void): void {
    if (this.queue.length === 0) callback();
    else this.flushed = callback;
  }

  protected override release(): void {
    this.releaseDue(Infinity);
  }

  private schedule(): void {
    const head = this.queue[0];
    if (!head || this.hasPendingWait) return;
    this.wait(Math.max(0, head.due - performance.now()), () => this.releaseDue(performance.now()));
  }

  private releaseDue(now: number): void {
    this.cancelWait();
    // Timers fire up to ~1 ms early or late; release what is due within half a millisecond.
    while (this.queue.length > 0 && (this.queue[0] as { due: number }).due <= now + 0.5) {
      const { chunk } = this.queue.shift() as { chunk: Buffer };
      this.queuedBytes -= chunk.length;
      this.push(chunk);
    }
    if (this.waiting && this.queuedBytes < MAX_QUEUED) {
      const callback = this.waiting;
      this.waiting = undefined;
      callback();
    }
    if (this.queue.length > 0) return this.schedule();
    const flushed = this.flushed;
    this.flushed = undefined;
    flushed?.();
  }
}

/**
 * On a UDP flow, each datagram is held latency ± jitter on its own: with jitter wider than their
 * spacing, datagrams overtake each other, as netem's do.
 */
class LatencyDatagrams extends DatagramStageBase {
  constructor(private readonly options: LatencyOptions, ctx: DatagramContext) {
    super(ctx);
  }

  push(datagram: Buffer): void {
    const { latency, jitter } = this.options;
    const delay = Math.max(0, latency + (jitter ? jitter * (2 * this.ctx.random() - 1) : 0));
    if (delay <= 0) this.ctx.emit(datagram);
    else this.hold(datagram, delay);
  }
}

export const latency = defineFault<LatencyOptions>({
  type: 'latency',
  summary: 'delay every chunk by latency ± jitter',
  options: z.strictObject({ latency: duration, jitter: duration.default(0) }),
  defaultStream: 'downstream',
  timeBounds: true,
  randomDefault: { type: 'latency', latency: '300ms', jitter: '50ms' },
  stageOnData: true,
  stage: (options, ctx) => new LatencyStage(options, ctx),
  datagram: (options, ctx) => new LatencyDatagrams(options, ctx),
});
