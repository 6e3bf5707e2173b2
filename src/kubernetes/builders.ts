import { ADMIN_VERBS, credentialSecretName } from '../admin/verbs.js';
import type { Interception, InjectionSettings } from './annotations.js';

/** What the injector adds to a pod; the image is the one image holding every command. */
export interface InjectOptions {
  image: string;
  /** Interception for pods that do not say (`faultline.dev/interception`); default always. */
  defaultInterception?: Interception;
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
export const ADMIN_PORT = 15000;
export const CREDENTIALS_VOLUME = 'faultline-admin';
export const CREDENTIALS_DIR = '/var/run/faultline/admin';
/** The Downward API volume (name, namespace, labels) and the sidecar's own API credentials (token, ca.crt), for FaultPolicy objects. */
export const POD_INFO_VOLUME = 'faultline-pod';
export const POD_INFO_DIR = '/var/run/faultline/pod';
export const KUBE_VOLUME = 'faultline-kube';
export const KUBE_CREDENTIALS_DIR = '/var/run/faultline/kubernetes';
export const TLS_CA_VOLUME = 'faultline-tls-ca';
export const TLS_CA_DIR = '/var/run/faultline/tls-ca';

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

/** The flags of `faultline iptables` (and of an on-demand sidecar) that shape what is captured. */
function captureFlags(settings: InjectionSettings): string[] {
  const args = ['--inbound-ports', settings.includeInboundPorts === '*' ? '*' : join(settings.includeInboundPorts)];
  if (settings.excludeInboundPorts.length) args.push('--exclude-inbound-ports', join(settings.excludeInboundPorts));
  if (settings.excludeOutboundPorts.length) args.push('--exclude-outbound-ports', join(settings.excludeOutboundPorts));
  if (settings.includeOutboundCidrs.length) args.push('--include-outbound-cidrs', join(settings.includeOutboundCidrs));
  if (settings.excludeOutboundCidrs.length) args.push('--exclude-outbound-cidrs', join(settings.excludeOutboundCidrs));
  return args;
}

/**
 * The init container: sets up interception with `faultline iptables`, with NET_ADMIN and NET_RAW
 * and nothing else. Every argument comes from validated, normalized values.
 */
export function initContainer(settings: InjectionSettings, options: InjectOptions): Container {
  const args = ['iptables', '--proxy-uid', String(PROXY_UID), '--inbound-capture-port', String(INBOUND_CAPTURE_PORT), '--outbound-capture-port', String(OUTBOUND_CAPTURE_PORT), ...captureFlags(settings)];
  if (settings.interceptDns) args.push('--intercept-dns');
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

/** The sidecar's security context: UID/GID 1337 and no capability, or on-demand's root start. */
function sidecarSecurity(settings: InjectionSettings): Record<string, unknown> {
  const common = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true };
  if (settings.interception !== 'on-demand') {
    return { runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true, ...common, capabilities: { drop: ['ALL'] } };
  }
  // Kubernetes gives a non-root container's processes no added capability (no ambient set), so
  // the container starts as root with these four only: NET_ADMIN and NET_RAW for the helper's
  // iptables, SETUID and SETGID for the proxy's drop to 1337, after which it holds none.
  // allowPrivilegeEscalation stays false: nothing ever gains a privilege, it only sheds them.
  return { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, ...common, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SETUID', 'SETGID'] } };
}

/**
 * The sidecar: UID/GID 1337, read-only root, no capabilities, probes on 15020. With interception
 * `always` it also runs the capture listeners that the init container's rules redirect to; with
 * `on-demand` it starts as root and installs its own rules while a fault needs them (see
 * sidecarSecurity). As a native sidecar (an init container with `restartPolicy: Always`,
 * Kubernetes 1.29+) the kubelet starts the app only once the startup probe passes, and a Job's
 * pod completes when the app does.
 */
export function sidecarContainer(settings: InjectionSettings, options: InjectOptions): Container {
  const probe = (path: string, periodSeconds: number, failureThreshold = 3) => ({ httpGet: { path, port: METRICS_PORT }, periodSeconds, timeoutSeconds: 2, failureThreshold });
  const ports = ['--inbound-port', String(INBOUND_CAPTURE_PORT), '--outbound-port', String(OUTBOUND_CAPTURE_PORT)];
  const capture = { always: ports, 'on-demand': ['--interception', 'on-demand', ...ports, '--proxy-uid', String(PROXY_UID), ...captureFlags(settings)], none: [] }[settings.interception];
  return {
    name: SIDECAR_NAME,
    image: options.image,
    // A pod never waits for its ConfigMap (--allow-missing-policy); the admin API listens on the
    // pod's address for the API server's pod proxy, with the namespace's credentials.
    args: [
      'sidecar', '--policy', `${POLICY_DIR}/policy.yaml`, '--allow-missing-policy', ...capture,
      '--metrics', `0.0.0.0:${METRICS_PORT}`, '--admin', `0.0.0.0:${ADMIN_PORT}`, '--admin-credentials', CREDENTIALS_DIR,
      '--faultpolicies', '--pod-info', POD_INFO_DIR, '--kube-credentials', KUBE_CREDENTIALS_DIR,
      ...(settings.tlsCaSecret ? ['--tls-ca-cert', `${TLS_CA_DIR}/tls.crt`, '--tls-ca-key', `${TLS_CA_DIR}/tls.key`] : []),
    ],
    ...(settings.nativeSidecar ? { restartPolicy: 'Always' } : {}),
    ports: [
      { name: 'faultline-metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
      { name: 'faultline-admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
    ],
    env: [{ name: 'FAULTLINE_LOG_LEVEL', value: 'info' }],
    securityContext: sidecarSecurity(settings),
    ...(settings.nativeSidecar ? { startupProbe: probe('/readyz', 1, 60) } : {}),
    readinessProbe: probe('/readyz', 2),
    livenessProbe: probe('/healthz', 10),
    // On-demand adds the root helper, a second Node process of about 20 MiB of its own.
    resources: { requests: { cpu: '50m', memory: settings.interception === 'on-demand' ? '96Mi' : '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    volumeMounts: [
      { name: POLICY_VOLUME, mountPath: POLICY_DIR, readOnly: true },
      { name: CREDENTIALS_VOLUME, mountPath: CREDENTIALS_DIR, readOnly: true },
      { name: POD_INFO_VOLUME, mountPath: POD_INFO_DIR, readOnly: true },
      { name: KUBE_VOLUME, mountPath: KUBE_CREDENTIALS_DIR, readOnly: true },
      ...(settings.tlsCaSecret ? [{ name: TLS_CA_VOLUME, mountPath: TLS_CA_DIR, readOnly: true }] : []),
    ],
  };
}

/**
 * Who the pod is, for FaultPolicy selectors, from the Downward API: no API permission needed, and
 * the kubelet rewrites `labels` when they change.
 */
export function podInfoVolume(): Volume {
  const field = (path: string, fieldPath: string) => ({ path, fieldRef: { fieldPath } });
  return { name: POD_INFO_VOLUME, downwardAPI: { items: [field('name', 'metadata.name'), field('namespace', 'metadata.namespace'), field('labels', 'metadata.labels')] } };
}

/**
 * The sidecar's own credentials for watching FaultPolicy objects: a projected token of the pod's
 * ServiceAccount (an hour, rotated by the kubelet) and the cluster CA, mounted into the sidecar
 * alone; the app's containers keep whatever `automountServiceAccountToken` gives them.
 */
export function kubeCredentialsVolume(): Volume {
  return {
    name: KUBE_VOLUME,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      ],
    },
  };
}

/**
 * The TLS CA's Secret (`faultline.dev/tls-ca-secret`), its tls.crt and tls.key mounted into the
 * sidecar container alone (the app's containers never see the key). Optional: a pod whose Secret
 * is missing starts, and the sidecar refuses `tls: terminate` rules until the files are there.
 */
export function tlsCaVolume(secretName: string): Volume {
  return { name: TLS_CA_VOLUME, secret: { secretName, optional: true, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } };
}

/**
 * The policy ConfigMap, mounted at /etc/faultline/ (its key `policy.yaml` is the policy file).
 * Optional: a pod whose ConfigMap does not exist starts with no fault instead of waiting.
 */
export function policyVolume(settings: InjectionSettings): Volume {
  return { name: POLICY_VOLUME, configMap: { name: settings.policy, optional: true } };
}

/**
 * The namespace's admin credentials, one file per verb (view, killswitch, rules), mounted into
 * the sidecar container alone. Each Secret is optional: until it exists the sidecar refuses what
 * needs it, and the kubelet adds it to the volume once it does. The pod itself needs no API
 * permission for this: the kubelet reads the Secrets.
 */
export function credentialsVolume(): Volume {
  return {
    name: CREDENTIALS_VOLUME,
    projected: {
      sources: ADMIN_VERBS.map((verb) => ({ secret: { name: credentialSecretName(verb), optional: true, items: [{ key: 'token', path: verb }] } })),
    },
  };
}
