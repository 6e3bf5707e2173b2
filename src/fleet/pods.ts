import type { V1Pod } from '@kubernetes/client-node';
import { SIDECAR_NAME } from '../kubernetes/builders.js';

/** Whether a pod can be asked, and if not why: reported per pod, never contacted. */
export type PodState = { contact: true } | { contact: false; result: 'skipped' | 'failed'; reason: string };

/** Whether the pod runs a faultline sidecar: a container, or a native sidecar (an init container with restartPolicy Always). */
export function hasSidecar(pod: V1Pod): boolean {
  return (pod.spec?.containers ?? []).some((c) => c.name === SIDECAR_NAME) || (pod.spec?.initContainers ?? []).some((c) => c.name === SIDECAR_NAME && c.restartPolicy === 'Always');
}

/**
 * Whether a pod's sidecar can be contacted: it has one, the pod is Running with an IP, and the
 * faultline container is ready (the app's own readiness does not matter: its sidecar can still
 * take the kill switch). A pod without the sidecar is skipped; the others that cannot be asked
 * have failed.
 */
export function podState(pod: V1Pod): PodState {
  if (!hasSidecar(pod)) return { contact: false, result: 'skipped', reason: 'no faultline sidecar' };
  const phase = pod.status?.phase ?? 'Unknown';
  if (phase !== 'Running') return { contact: false, result: 'failed', reason: `not running (${phase}); not contacted` };
  if (!pod.status?.podIP) return { contact: false, result: 'failed', reason: 'no pod IP yet; not contacted' };
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const sidecar = statuses.find((s) => s.name === SIDECAR_NAME);
  if (!sidecar?.ready) return { contact: false, result: 'failed', reason: 'the faultline container is not ready; not contacted' };
  return { contact: true };
}
