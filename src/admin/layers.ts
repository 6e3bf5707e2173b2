import type { PolicyOverlay, Sidecar } from '../sidecar.js';
import { SerialQueue } from '../serial-queue.js';

/** The parts of the runtime layer, in the order their rules are listed. */
export type LayerName = 'initial' | 'faultpolicies' | 'rules' | 'toxiproxy';
const ORDER: readonly LayerName[] = ['initial', 'faultpolicies', 'rules', 'toxiproxy'];

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

  /**
   * The parts together. Names decide between layers: file < FaultPolicy objects < runtime rules
   * and Toxiproxy proxies. A FaultPolicy rule or listener whose name a runtime part also uses
   * is left out (`shadowed`); one the file also uses replaces the file's.
   */
  private union(): PolicyOverlay {
    const overlay: PolicyOverlay = { listeners: [], rules: [], replaces: { rules: [], listeners: [] } };
    const later = this.runtimeNames();
    for (const name of ORDER) {
      const part = this.parts.get(name);
      if (!part) continue;
      const fromObjects = name === 'faultpolicies';
      const listeners = fromObjects ? part.listeners.filter((l) => !later.listeners.has(String(l.name))) : part.listeners;
      const rules = fromObjects ? part.rules.filter((r) => !later.rules.has(String(r.name))) : part.rules;
      overlay.listeners.push(...listeners);
      overlay.rules.push(...rules);
      // The file's rule of a name a FaultPolicy object uses stays replaced even when a runtime rule shadows the object's.
      if (fromObjects) overlay.replaces = { rules: part.rules.map((r) => String(r.name)), listeners: part.listeners.map((l) => String(l.name)) };
    }
    return overlay;
  }

  /** Names the runtime parts (admin API rules, Toxiproxy proxies) use: they win over FaultPolicy objects. */
  runtimeNames(): { rules: Set<string>; listeners: Set<string> } {
    const parts = (['rules', 'toxiproxy'] as const).map((n) => this.parts.get(n)).filter((p): p is PolicyOverlay => p !== undefined);
    return { rules: new Set(parts.flatMap((p) => p.rules.map((r) => String(r.name)))), listeners: new Set(parts.flatMap((p) => p.listeners.map((l) => String(l.name)))) };
  }
}
