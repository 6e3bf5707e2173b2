import { ANNOTATIONS, readSettings, wantsInjection } from './annotations.js';
import { initContainer, policyVolume, sidecarContainer, SIDECAR_NAME, type Container, type InjectOptions, type Volume } from './builders.js';

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

interface PodTemplate {
  metadata?: Meta;
  spec?: { containers?: Container[]; initContainers?: Container[]; volumes?: Volume[]; [key: string]: unknown };
}

/** A Kubernetes object that is, or holds, a pod template. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Where each workload kind keeps its pod template; a Pod is its own template. */
export function podTemplateOf(object: KubeObject): PodTemplate | undefined {
  switch (object.kind) {
    case 'Pod':
      return object as PodTemplate;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
    case 'ReplicationController':
      return (object.spec as { template?: PodTemplate } | undefined)?.template;
    case 'CronJob':
      return (object.spec as { jobTemplate?: { spec?: { template?: PodTemplate } } } | undefined)?.jobTemplate?.spec?.template;
    default:
      return undefined;
  }
}

/**
 * Returns a copy of `object` with the sidecar added to its pod template when the template asks
 * for it (and unchanged otherwise). Injecting an injected object changes nothing. Throws an
 * AnnotationError when an annotation value is invalid.
 */
export function injectObject(object: KubeObject, options: InjectOptions, namespaceEnabled = false): { object: KubeObject; injected: boolean } {
  const copy = structuredClone(object);
  const template = podTemplateOf(copy);
  if (!template) return { object: copy, injected: false };
  const meta = (template.metadata ??= {});
  if (!wantsInjection(meta.annotations, meta.labels, namespaceEnabled)) return { object: copy, injected: false };
  const settings = readSettings(meta.annotations);
  const spec = (template.spec ??= { containers: [] });
  if ((spec.containers ?? []).some((c) => c.name === SIDECAR_NAME)) return { object: copy, injected: false };

  spec.initContainers = [...(spec.initContainers ?? []).filter((c) => c.name !== 'faultline-init'), initContainer(settings, options)];
  spec.containers = [...(spec.containers ?? []), sidecarContainer(options)];
  spec.volumes = [...(spec.volumes ?? []).filter((v) => v.name !== 'faultline-policy'), policyVolume(settings)];
  meta.annotations = { ...meta.annotations, [ANNOTATIONS.status]: JSON.stringify({ version: '0.1.0', policy: settings.policy }) };
  return { object: copy, injected: true };
}
