import type { PolicyOverlay, Sidecar } from '../sidecar.js';
import { SerialQueue } from '../serial-queue.js';

/** The parts of the runtime layer, in the order their rules are listed. */
export type LayerName = 'initial' | 'rules' | 'toxiproxy';
const ORDER: readonly LayerName[] = ['initial', 'rules', 'toxiproxy'];

/**
 * The sidecar's runtime layer (its overlay over the file policy) shared by its writers: the
 * admin API's runtime rules and the Toxiproxy API's proxies and toxics. Each writer owns a part;
 * the overlay is their union. Changes run one at a time (`exclusive`), since each reads the
 * current state, validates, binds listeners and swaps the policy.
 */
export class RuntimeLayers {
  private readonly parts = new Map<LayerName, PolicyOverlay>();
  private readonly queue = new SerialQueue();

  constructor(readonly sidecar: Sidecar) {
    // Whatever the overlay held before (set programmatically) stays, as a part of its own.
    this.parts.set('initial', sidecar.overlay);
  }

  /** A copy of one part. */
  get(name: LayerName): PolicyOverlay {
    return structuredClone(this.parts.get(name) ?? { listeners: [], rules: [] });
  }

  /**
   * Replaces one part and applies the union. Validation or bind failures throw (a PolicyError)
   * and leave every part as it was. Call inside `exclusive`.
   */
  async set(name: LayerName, part: PolicyOverlay): Promise<void> {
    const previous = this.parts.get(name);
    this.parts.set(name, structuredClone(part));
    try {
      await this.sidecar.setOverlay(this.union());
    } catch (err) {
      if (previous) this.parts.set(name, previous);
      else this.parts.delete(name);
      throw err;
    }
  }

  /** Runs `change` after every change queued before it, alone. */
  exclusive<T>(change: () => Promise<T> | T): Promise<T> {
    return this.queue.run(change);
  }

  private union(): PolicyOverlay {
    const overlay: PolicyOverlay = { listeners: [], rules: [] };
    for (const name of ORDER) {
      const part = this.parts.get(name);
      if (!part) continue;
      overlay.listeners.push(...part.listeners);
      overlay.rules.push(...part.rules);
    }
    return overlay;
  }
}
