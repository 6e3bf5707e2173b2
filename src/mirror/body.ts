import { createHash, type Hash } from 'node:crypto';

/** Bytes of a body kept for the drift log (where two bodies first differ). */
const PREFIX_BYTES = 1024;

/**
 * The mirror pipeline's memory budget: every body byte a comparison keeps is reserved here
 * first, so that all mirrored requests together never hold more than `limit` bytes.
 */
export class ByteBudget {
  used = 0;

  constructor(readonly limit: number) {}

  /** Reserves `n` bytes; false (nothing reserved) when that would go over the limit. */
  reserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** What is known of a body once it ended: its size and digest, its first bytes, and the whole of it when kept. */
export interface BodySummary {
  readonly bytes: number;
  readonly sha256: string;
  readonly prefix: Buffer;
  /** The body, when it was kept (json comparison, a request body) and not over its cap. */
  readonly kept: Buffer | undefined;
  /** It was to be kept but went over `maxBodyBytes` or the pipeline's budget. */
  readonly over: boolean;
}

/**
 * One body as it passes: hashed (SHA-256) whole, whatever its size, so an exact comparison needs
 * no copy; the first KiB copied for the drift log; and, when `keep` > 0, copied whole up to
 * `keep` bytes (reserved in the budget), beyond which it is marked over and the copy dropped.
 */
export class BodyCopy {
  private bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly prefix: Buffer[] = [];
  private prefixBytes = 0;
  private kept: Buffer[] = [];
  private reserved = 0;
  private over = false;

  constructor(private readonly keep: number, private readonly budget: ByteBudget) {}

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    if (this.prefixBytes < PREFIX_BYTES) {
      const part = Buffer.from(chunk.subarray(0, PREFIX_BYTES - this.prefixBytes));
      this.prefix.push(part);
      this.prefixBytes += part.length;
    }
    if (this.keep === 0 || this.over) return;
    if (this.bytes > this.keep || !this.budget.reserve(chunk.length)) {
      this.over = true;
      this.dispose();
      return;
    }
    this.reserved += chunk.length;
    this.kept.push(Buffer.from(chunk));
  }

  /** Its size so far. */
  get length(): number {
    return this.bytes;
  }

  /** Whether it went over what it may keep. */
  get overCap(): boolean {
    return this.over;
  }

  /** The body ended. */
  finish(): BodySummary {
    const kept = this.keep > 0 && !this.over ? Buffer.concat(this.kept) : undefined;
    return { bytes: this.bytes, sha256: this.hash.digest('hex'), prefix: Buffer.concat(this.prefix), kept, over: this.over };
  }

  /** Gives back what it reserved (the comparison is over, or it went over its cap). */
  dispose(): void {
    this.kept = [];
    this.budget.release(this.reserved);
    this.reserved = 0;
  }
}
