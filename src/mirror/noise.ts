import type { Difference } from './compare.js';

/** Mirrored requests of a rule that all go to the primary twice before its comparisons count. */
export const NOISE_WARMUP = 10;
/** After the warm-up, the share of idempotent mirrored requests that go to the primary twice. */
export const NOISE_SHARE = 0.05;
/** Second primary requests of one rule in flight at once, after the warm-up. */
export const NOISE_IN_FLIGHT = 2;
/** Keys (headers, JSONPaths...) one rule may learn; further ones are not learned. */
export const NOISE_MAX_KEYS = 64;

/**
 * Diffy's noise learning for one mirror fault: a bounded share of idempotent requests goes to
 * the primary a second time, and whatever differs between the primary's two answers (a
 * timestamp, a request id, a `date` header) is noise, left out of the comparisons with the
 * shadow. The first NOISE_WARMUP mirrored idempotent requests all learn, and the rule's other
 * comparisons wait for them (bounded by the fault's timeout); then NOISE_SHARE of them, at most
 * NOISE_IN_FLIGHT at once. At most NOISE_MAX_KEYS keys are learned; a key is never unlearned
 * (editing the rule starts afresh).
 */
export class NoiseModel {
  readonly keys = new Set<string>();
  private samples = 0;
  private inFlight = 0;
  private resolveReady: () => void = () => {};
  /** Resolves when the warm-up's learning requests are all done. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.resolveReady = resolve));

  get warm(): boolean {
    return this.samples >= NOISE_WARMUP;
  }

  /** Whether this request also goes to the primary a second time; if so, `learned` must follow. */
  draw(random: () => number): boolean {
    const take = this.warm ? this.inFlight < NOISE_IN_FLIGHT && random() < NOISE_SHARE : this.samples + this.inFlight < NOISE_WARMUP;
    if (take) this.inFlight++;
    return take;
  }

  /** The primary's two answers differed thus (undefined: the second one failed, nothing learned). */
  learned(differences: readonly Difference[] | undefined): void {
    this.inFlight--;
    this.samples++;
    for (const d of differences ?? []) {
      if (this.keys.size >= NOISE_MAX_KEYS) break;
      this.keys.add(d.key);
    }
    if (this.warm) this.resolveReady();
  }

  /** Learned keys, for GET /mirror. */
  view(): { samples: number; warm: boolean; keys: string[] } {
    return { samples: this.samples, warm: this.warm, keys: [...this.keys] };
  }
}
