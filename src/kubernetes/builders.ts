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

// Minimal Kubernetes shapes for what we build; kubernetes-models validates them in the tests.
export interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number; protocol: string }[];
  env?: { name: string; value: string }[];
  securityContext?: Record<string, unknown>;
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
  const args = ['iptables', '--proxy-uid', String(PROXY_UID)];
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
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    },
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
  };
}

/** The sidecar: UID/GID 1337, read-only root, no capabilities, probes on 15020. */
export function sidecarContainer(options: InjectOptions): Container {
  const probe = (path: string, periodSeconds: number) => ({ httpGet: { path, port: 15020 }, periodSeconds, timeoutSeconds: 2, failureThreshold: 3 });
  return {
    name: SIDECAR_NAME,
    image: options.image,
    args: ['sidecar', '--policy', `${POLICY_DIR}/policy.yaml`, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '0.0.0.0:15020'],
    ports: [{ name: 'faultline-metrics', containerPort: 15020, protocol: 'TCP' }],
    env: [{ name: 'FAULTLINE_LOG_LEVEL', value: 'info' }],
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
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
