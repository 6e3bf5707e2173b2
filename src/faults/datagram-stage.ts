import type { DatagramContext, DatagramStage } from './types.js';

/** Datagrams one stage may hold (delayed, paced) before it drops more and counts them as overflow. */
export const MAX_HELD_DATAGRAMS = 1024;
/** Bytes one stage may hold, likewise: about a router's queue, not an unbounded buffer. */
export const MAX_HELD_BYTES = 1024 * 1024;

interface Held {
  datagram: Buffer;
  due: number;
  timer: NodeJS.Timeout;
}

/**
 * The base of datagram stages: `hold` hands a datagram on after a delay, each on its own timer
 * (so datagrams may overtake each other, as on a real network), within the bounds above. On
 * interrupt (the fault is removed from a live flow) what is held goes on at once, in due order;
 * on destroy (the flow is gone) it is dropped.
 */
export abstract class DatagramStageBase implements DatagramStage {
  protected interrupted = false;
  private readonly held = new Set<Held>();
  private heldBytes = 0;

  constructor(protected readonly ctx: DatagramContext) {}

  abstract push(datagram: Buffer): void;

  /** Whether one more datagram of this size fits (within `maxBytes`); when not, it is counted as overflow. */
  protected admit(size: number, count: number, bytes: number, maxBytes = MAX_HELD_BYTES): boolean {
    if (count < MAX_HELD_DATAGRAMS && bytes + size <= maxBytes) return true;
    this.ctx.count('overflow');
    return false;
  }

  /** Hands `datagram` on in `ms`; over the bounds it is dropped (and counted). */
  protected hold(datagram: Buffer, ms: number): void {
    if (this.interrupted) return this.ctx.emit(datagram);
    if (!this.admit(datagram.length, this.held.size, this.heldBytes)) return;
    const entry: Held = {
      datagram,
      due: performance.now() + ms,
      timer: setTimeout(() => {
        this.held.delete(entry);
        this.heldBytes -= datagram.length;
        this.ctx.emit(datagram);
      }, ms),
    };
    this.held.add(entry);
    this.heldBytes += datagram.length;
  }

  interrupt(): void {
    this.interrupted = true;
    const entries = [...this.held].sort((a, b) => a.due - b.due);
    this.clear();
    for (const entry of entries) this.ctx.emit(entry.datagram);
  }

  destroy(): void {
    this.interrupted = true;
    this.clear();
  }

  private clear(): void {
    for (const entry of this.held) clearTimeout(entry.timer);
    this.held.clear();
    this.heldBytes = 0;
  }
}

/** A stage that decides each datagram at once (drop, pass, copy): nothing held. */
export class ImmediateDatagrams implements DatagramStage {
  private interrupted = false;

  constructor(
    private readonly ctx: DatagramContext,
    private readonly act: (datagram: Buffer, ctx: DatagramContext) => void,
  ) {}

  push(datagram: Buffer): void {
    if (this.interrupted) this.ctx.emit(datagram);
    else this.act(datagram, this.ctx);
  }

  interrupt(): void {
    this.interrupted = true;
  }

  destroy(): void {
    this.interrupted = true;
  }
}
