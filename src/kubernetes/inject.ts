import { AnnotationError } from '../errors.js';
import { ANNOTATIONS, readSettings, unknownAnnotations, wantsInjection } from './annotations.js';
import { VERSION } from '../version.js';
import { CREDENTIALS_VOLUME, credentialsVolume, INIT_NAME, initContainer, KUBE_VOLUME, kubeCredentialsVolume, POD_INFO_VOLUME, podInfoVolume, POLICY_VOLUME, policyVolume, sidecarContainer, SIDECAR_NAME, TLS_CA_VOLUME, tlsCaVolume, type Container, type InjectOptions, type Volume } from './builders.js';

interface Meta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

interface PodTemplate {
  metadata?: Meta;
  spec?: { containers?: Container[]; initContainers?: Container[]; volumes?: Volume[]; hostNetwork?: boolean; [key: string]: unknown };
}

/** A Kubernetes object that is, or holds, a pod template. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What injection did to one object, and what the user should hear about it. */
export interface InjectResult {
  object: KubeObject;
  injected: boolean;
  warnings: string[];
}

/** Lets `kubectl logs/exec` keep defaulting to the app, not to the sidecar we append. */
const DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';

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

/** "Deployment shop/checkout", for messages. */
export function describeObject(object: KubeObject): string {
  const name = object.metadata?.name ?? (object.metadata?.generateName ? `${object.metadata.generateName}*` : '(unnamed)');
  return `${object.kind ?? 'object'} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${name}`;
}

/**
 * Returns a copy of `object` with the sidecar added to its pod template when the template asks
 * for it (and unchanged otherwise). Injecting an injected object changes nothing. Throws an
 * AnnotationError when an annotation value is invalid.
 */
export function injectObject(object: KubeObject, options: InjectOptions, namespaceEnabled = false): InjectResult {
  const copy = structuredClone(object);
  const unchanged = (warnings: string[] = []): InjectResult => ({ object: copy, injected: false, warnings });
  const template = podTemplateOf(copy);
  if (!template) return unchanged();
  const meta = (template.metadata ??= {});
  refuseNonStrings(meta.annotations);
  refuseNonStrings(meta.labels);
  if (!wantsInjection(meta.annotations, meta.labels, namespaceEnabled)) return unchanged();
  const settings = readSettings(meta.annotations, options.defaultInterception);
  const warnings = unknownAnnotations(meta.annotations).map((key) => `faultline: ${describeObject(object)}: unknown annotation ${key} ignored (known: ${Object.values(ANNOTATIONS).join(', ')})`);
  const spec = (template.spec ??= { containers: [] });
  // A host-network pod shares the node's network namespace: its init container would rewrite
  // the node's own iptables. Never.
  if (spec.hostNetwork === true) return unchanged([...warnings, `faultline: ${describeObject(object)} uses hostNetwork; the sidecar is never injected there`]);
  const present = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].some((c) => c.name === SIDECAR_NAME);
  if (present) return unchanged(warnings);

  const sidecar = sidecarContainer(settings, options);
  const appContainer = spec.containers?.[0]?.name;
  // With a regular sidecar, the rules go in last: the app's own init containers run before
  // anything listens on the capture ports, so they must not be redirected. A native sidecar
  // starts right after the rules, first of all, so every later container goes through it.
  const ours = [...(settings.interception === 'always' ? [initContainer(settings, options)] : []), ...(settings.nativeSidecar ? [sidecar] : [])];
  const theirs = (spec.initContainers ?? []).filter((c) => c.name !== INIT_NAME);
  const initContainers = settings.nativeSidecar ? [...ours, ...theirs] : [...theirs, ...ours];
  if (initContainers.length > 0) spec.initContainers = initContainers;
  else delete spec.initContainers;
  if (!settings.nativeSidecar) spec.containers = [...(spec.containers ?? []), sidecar];
  const ourVolumes = new Set([POLICY_VOLUME, CREDENTIALS_VOLUME, POD_INFO_VOLUME, KUBE_VOLUME, TLS_CA_VOLUME]);
  const tlsCa = settings.tlsCaSecret ? [tlsCaVolume(settings.tlsCaSecret)] : [];
  spec.volumes = [...(spec.volumes ?? []).filter((v) => !ourVolumes.has(v.name)), policyVolume(settings), credentialsVolume(), podInfoVolume(), kubeCredentialsVolume(), ...tlsCa];
  meta.annotations = {
    ...(appContainer && !meta.annotations?.[DEFAULT_CONTAINER] ? { [DEFAULT_CONTAINER]: appContainer } : {}),
    ...meta.annotations,
    [ANNOTATIONS.status]: JSON.stringify({ version: VERSION, policy: settings.policy, interception: settings.interception }),
  };
  if (!settings.nativeSidecar && isRunToCompletion(copy)) {
    warnings.push(`faultline: ${describeObject(object)} runs to completion, but a regular sidecar container keeps its pod running; annotate ${ANNOTATIONS.nativeSidecar}: "true" (Kubernetes 1.29+)`);
  }
  return { object: copy, injected: true, warnings };
}

/**
 * Kubernetes annotation and label values are strings; YAML reads `true`, `5432` or `on` unquoted
 * as other types, which the API server refuses and which we would misread. Ours are refused
 * here, by name, with the fix.
 */
function refuseNonStrings(values: Record<string, unknown> | undefined): void {
  for (const [key, value] of Object.entries(values ?? {})) {
    if (typeof value === 'string' || !key.startsWith('faultline.dev/')) continue;
    const type = value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value === 'object' ? 'map' : `${typeof value}`;
    throw new AnnotationError(key, String(value), `is a YAML ${type}, not a string: quote it (${key}: "${String(value)}")`);
  }
}

/** Jobs, CronJobs, and pods owned by a Job: their pods should end when the app ends. */
function isRunToCompletion(object: KubeObject): boolean {
  if (object.kind === 'Job' || object.kind === 'CronJob') return true;
  const owners = (object.metadata?.ownerReferences ?? []) as { kind?: string }[];
  return object.kind === 'Pod' && owners.some((o) => o.kind === 'Job');
}
