import type { MirrorCounts } from '../drift.js';
import type { TargetSpec } from '../schema.js';
import { AdminTarget } from './admin.js';
import type { KubernetesTarget } from './kubernetes.js';

/**
 * Where an experiment's faults go. Every method is idempotent: applying a rule again replaces
 * it, removing one that is not there is done. Rule names come with the experiment's prefix.
 */
export interface Target {
  readonly name: string;
  /** Where it is, for reports: a URL, or namespace/name of a ConfigMap. */
  readonly location: string;
  /** Adds or replaces these rules, each with its `expiresAt`. */
  apply(rules: Record<string, unknown>[], expiresAt: Date): Promise<void>;
  /** Removes the rules of these names (absent ones are fine). */
  remove(names: string[]): Promise<void>;
  /** The names of the rules on the target that start with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** Its mirror rules' counters (shadow traffic), where the target can tell them. */
  mirror?(): Promise<MirrorCounts>;
  /** Kubernetes targets: the namespace and pods podKill and scale steps act on. */
  readonly cluster?: KubernetesTarget;
}

/**
 * The target a spec describes (`experiment` seeds a kubernetes target's pick). The Kubernetes
 * client is loaded only for ConfigMap and kubernetes targets: it takes most of a second to load,
 * which no other command (the sidecar above all) should pay.
 */
export async function createTarget(spec: TargetSpec, experiment = 'experiment'): Promise<Target> {
  if (spec.admin) return new AdminTarget(spec.name, spec.admin);
  if (spec.kubernetes) {
    const { KubernetesTarget } = await import('./kubernetes.js');
    const pods = await KubernetesTarget.create(spec.name, spec.kubernetes, experiment);
    if (spec.kubernetes.via === 'pods') return pods;
    const { FaultPolicyTarget } = await import('./faultpolicy.js');
    const { selector, mode, value } = spec.kubernetes;
    return new FaultPolicyTarget(pods, experiment, { ...(selector ? { selector } : {}), mode, ...(value !== undefined ? { value } : {}) });
  }
  const { ConfigMapTarget } = await import('./configmap.js');
  return new ConfigMapTarget(spec.name, spec.configMap as NonNullable<TargetSpec['configMap']>);
}
