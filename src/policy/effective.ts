import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadPolicy, type ValidatedPolicy } from './load.js';
import { EMPTY_POLICY_TEXT } from './compile.js';

/** What the admin API and FaultPolicy objects add over the policy file (the runtime layer). */
export interface PolicyOverlay {
  listeners: Record<string, unknown>[];
  rules: Record<string, unknown>[];
  /** Rules and listeners of the file this layer takes over, by name (FaultPolicy objects win over the file). */
  replaces?: { rules: string[]; listeners: string[] };
}

/** What the effective policy is made of: plain data, so that a worker thread can take it. */
export interface EffectiveInput {
  /** The policy file's text ('' when there is none). */
  text: string;
  source: string;
  overlay: PolicyOverlay;
  kernelFaults: boolean;
  tlsCa: boolean;
}

/** The effective policy validated: what was compiled, under which name. */
export interface EffectivePolicy {
  validated: ValidatedPolicy;
  /** The text the policy was validated from: the file's, or the file and the runtime layer together. */
  text: string;
  source: string;
}

const OVERLAY_SUFFIX = ' + runtime';

/** The file's source name for an effective policy's source (the runtime layer's suffix taken off). */
export function fileSourceOf(source: string): string {
  return source.endsWith(OVERLAY_SUFFIX) ? source.slice(0, -OVERLAY_SUFFIX.length) : source;
}

/**
 * Validates the policy file with the runtime layer over it. The file alone is validated first,
 * so that its errors carry its own lines; then the layer is added and the whole validated again.
 * Throws PolicyError.
 */
export function validateEffective(input: EffectiveInput): EffectivePolicy {
  const { text, source, overlay, kernelFaults, tlsCa } = input;
  const knownListeners = overlay.listeners.map((l) => String(l.name));
  const base = loadPolicy(text || EMPTY_POLICY_TEXT, text ? source : '(none)', { knownListeners, kernelFaults, tlsCa });
  if (overlay.listeners.length === 0 && overlay.rules.length === 0) return { validated: base, text: text || EMPTY_POLICY_TEXT, source: text ? source : '(none)' };
  const doc = (text ? parseYaml(text) : { apiVersion: base.doc.apiVersion, kind: base.doc.kind, metadata: base.doc.metadata, spec: {} }) as {
    spec?: { listeners?: unknown[]; rules?: unknown[] };
  };
  doc.spec ??= {};
  const replaced = { rules: new Set(overlay.replaces?.rules), listeners: new Set(overlay.replaces?.listeners) };
  const kept = (list: unknown[] | undefined, names: Set<string>) => (list ?? []).filter((entry) => !names.has(String((entry as { name?: unknown } | null)?.name)));
  doc.spec.listeners = [...kept(doc.spec.listeners, replaced.listeners), ...overlay.listeners];
  doc.spec.rules = [...kept(doc.spec.rules, replaced.rules), ...overlay.rules];
  const merged = stringifyYaml(doc);
  const layered = `${source}${OVERLAY_SUFFIX}`;
  return { validated: loadPolicy(merged, layered, { kernelFaults, tlsCa }), text: merged, source: layered };
}
