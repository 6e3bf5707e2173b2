import type { InjectionSettings } from './annotations.js';

/** What the injector adds to a pod; the image is the one image holding every command. */
export interface InjectOptions {
  image: string;
}

export const DEFAULT_IMAGE = 'ghcr.io/faultline-dev/faultline:0.1.0';
export const SIDECAR_NAME = 'faultline';
export const INIT_NAME = 'faultline-init';
export const POLICY_VOLUME = 'faultline-policy';
export const POLICY_DIR = '/etc/faultline';
export const PROXY_UID = 1337;
export const INBOUND_CAPTURE_PORT = 15006;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const METRICS_PORT = 15020;

// Minimal Kubernetes shapes for what we build; kubernetes-models validates them in the tests.
export interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number; protocol: string }[];
  env?: { name: string; value: string }[];
  securityContext?: Record<string, unknown>;
  restartPolicy?: 'Always';
  startupProbe?: Record<string, unknown>;
  readinessProbe?: Record<string, unknown>;
  livenessProbe?: Record<string, unknown>;
  resources?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  [key: string]: unknown;
}

const join = (values: (number | { cidr: string })[]) => values.map((v) => (typeof v === 'number' ? String(v) : v.cidr)).join(',');

/**
 * The init container: sets up interception with `faultline iptables`, with NET_ADMIN and NET_RAW
 * and nothing else. Every argument comes from validated, normalized values.
 */
export function initContainer(settings: InjectionSettings, options: InjectOptions): Container {
  const args = ['iptables', '--proxy-uid', String(PROXY_UID), '--inbound-capture-port', String(INBOUND_CAPTURE_PORT), '--outbound-capture-port', String(OUTBOUND_CAPTURE_PORT)];
  args.push('--inbound-ports', settings.includeInboundPorts === '*' ? '*' : join(settings.includeInboundPorts));
  if (settings.excludeInboundPorts.length) args.push('--exclude-inbound-ports', join(settings.excludeInboundPorts));
  if (settings.excludeOutboundPorts.length) args.push('--exclude-outbound-ports', join(settings.excludeOutboundPorts));
  if (settings.includeOutboundCidrs.length) args.push('--include-outbound-cidrs', join(settings.includeOutboundCidrs));
  if (settings.excludeOutboundCidrs.length) args.push('--exclude-outbound-cidrs', join(settings.excludeOutboundCidrs));
  return {
    name: INIT_NAME,
    image: options.image,
    args,
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      // The image's iptables is the nf_tables one, which needs no lock file in /run (tested).
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    },
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
  };
}

/**
 * The sidecar: UID/GID 1337, read-only root, no capabilities, probes on 15020. With interception
 * `always` it also runs the capture listeners that the init container's rules redirect to. As a
 * native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29+) the kubelet
 * starts the app only once the startup probe passes, and a Job's pod completes when the app does.
 */
export function sidecarContainer(settings: InjectionSettings, options: InjectOptions): Container {
  const probe = (path: string, periodSeconds: number, failureThreshold = 3) => ({ httpGet: { path, port: METRICS_PORT }, periodSeconds, timeoutSeconds: 2, failureThreshold });
  const capture = settings.interception === 'always' ? ['--inbound-port', String(INBOUND_CAPTURE_PORT), '--outbound-port', String(OUTBOUND_CAPTURE_PORT)] : [];
  return {
    name: SIDECAR_NAME,
    image: options.image,
    args: ['sidecar', '--policy', `${POLICY_DIR}/policy.yaml`, ...capture, '--metrics', `0.0.0.0:${METRICS_PORT}`],
    ...(settings.nativeSidecar ? { restartPolicy: 'Always' } : {}),
    ports: [{ name: 'faultline-metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
    env: [{ name: 'FAULTLINE_LOG_LEVEL', value: 'info' }],
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    ...(settings.nativeSidecar ? { startupProbe: probe('/readyz', 1, 60) } : {}),
    readinessProbe: probe('/readyz', 2),
    livenessProbe: probe('/healthz', 10),
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    volumeMounts: [{ name: POLICY_VOLUME, mountPath: POLICY_DIR, readOnly: true }],
  };
}

/** The policy ConfigMap, mounted at /etc/faultline/ (its key `policy.yaml` is the policy file). */
export function policyVolume(settings: InjectionSettings): Volume {
  return { name: POLICY_VOLUME, configMap: { name: settings.policy } };
}
