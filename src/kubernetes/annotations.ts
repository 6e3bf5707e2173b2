import { AnnotationError, InvalidValueError } from '../errors.js';
import { parseCidrs, parsePorts, type Cidr } from '../interception/values.js';

/** The pod annotations of SPEC.md ("Kubernetes"), plus the ones the injector writes. */
export const ANNOTATIONS = {
  inject: 'faultline.dev/inject',
  policy: 'faultline.dev/policy',
  includeInboundPorts: 'faultline.dev/include-inbound-ports',
  excludeInboundPorts: 'faultline.dev/exclude-inbound-ports',
  excludeOutboundPorts: 'faultline.dev/exclude-outbound-ports',
  includeOutboundCidrs: 'faultline.dev/include-outbound-cidrs',
  excludeOutboundCidrs: 'faultline.dev/exclude-outbound-cidrs',
  interception: 'faultline.dev/interception',
  /** "true": `faultline iptables --intercept-dns`, the pod's DNS through the sidecar's DNS proxy (always mode). */
  interceptDns: 'faultline.dev/intercept-dns',
  /** A Secret (kubernetes.io/tls: tls.crt, tls.key) holding the CA the apps trust, mounted into the sidecar for `tls: terminate`. */
  tlsCaSecret: 'faultline.dev/tls-ca-secret',
  /** "true": run the sidecar as a Kubernetes native sidecar (an init container that keeps running). */
  nativeSidecar: 'faultline.dev/native-sidecar',
  /** Written by the injector: what it injected, so that injecting again changes nothing. */
  status: 'faultline.dev/status',
} as const;

/** The namespace label that turns injection on for every pod in it. */
export const NAMESPACE_LABEL = 'faultline-injection';

export const DEFAULT_POLICY_CONFIGMAP = 'faultline-policy';

export interface InjectionSettings {
  /** The ConfigMap holding `policy.yaml`, mounted at /etc/faultline/. */
  policy: string;
  includeInboundPorts: number[] | '*';
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  includeOutboundCidrs: Cidr[];
  excludeOutboundCidrs: Cidr[];
  /**
   * `always`: iptables capture set up by the init container, for the pod's whole life.
   * `on-demand`: no init container; the sidecar (starting as root with NET_ADMIN, running the
   * proxy as 1337) installs redirect rules only while a fault of its policy needs them.
   * `none`: no capture at all and no NET_ADMIN anywhere (fits Pod Security "baseline"); traffic
   * goes through the sidecar only where the app dials a listener of the policy (explicit mode).
   */
  interception: Interception;
  nativeSidecar: boolean;
  /** The init container also redirects the pod's port-53 traffic to the DNS proxy (15053). */
  interceptDns: boolean;
  /** The Secret with the CA for TLS termination (its tls.crt and tls.key), mounted into the sidecar only. */
  tlsCaSecret: string | undefined;
}

export const INTERCEPTION_MODES = ['always', 'on-demand', 'none'] as const;
export type Interception = (typeof INTERCEPTION_MODES)[number];

type Strings = Record<string, string> | undefined;

/**
 * Whether a pod asks for the sidecar: `faultline.dev/inject: "true"` as annotation or label,
 * or its namespace labelled `faultline-injection=enabled` (a pod can still opt out with "false").
 */
export function wantsInjection(annotations: Strings, labels: Strings, namespaceEnabled = false): boolean {
  const value = annotations?.[ANNOTATIONS.inject] ?? labels?.[ANNOTATIONS.inject];
  if (value === undefined) return namespaceEnabled;
  // "yes", "1", "True": a typo is refused rather than read as "no".
  if (value !== 'true' && value !== 'false') throw new AnnotationError(ANNOTATIONS.inject, value, 'must be "true" or "false"');
  return value === 'true';
}

// A DNS-1123 subdomain (what Kubernetes requires of a ConfigMap name): dot-separated labels of
// lower-case alphanumerics and '-', each starting and ending with an alphanumeric.
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether `name` can be a ConfigMap or Secret name. */
export function isDns1123Subdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((label) => DNS_1123_LABEL.test(label));
}

/** Our annotations that the pod carries but that we do not know: most likely typos. */
export function unknownAnnotations(annotations: Strings): string[] {
  const known = new Set<string>(Object.values(ANNOTATIONS));
  return Object.keys(annotations ?? {}).filter((key) => key.startsWith('faultline.dev/') && !known.has(key));
}

/**
 * Reads and validates every faultline annotation; throws AnnotationError on the first bad one.
 * `defaultInterception` applies to pods without `faultline.dev/interception` (the webhook's
 * `--default-interception`).
 */
export function readSettings(annotations: Strings, defaultInterception: Interception = 'always'): InjectionSettings {
  const get = (key: string) => annotations?.[key];
  // The validators say which item is wrong and why; that goes after the annotation's name.
  const parsed = <T>(key: string, parse: (value: string) => T, empty: T, why: string): T => {
    const value = get(key);
    if (value === undefined) return empty;
    try {
      return parse(value);
    } catch (err) {
      const detail = err instanceof InvalidValueError ? `${JSON.stringify(err.item)} ${err.reason}` : (err as Error).message;
      throw new AnnotationError(key, value, `${why}: ${detail}`);
    }
  };
  const ports = (key: string) => parsed(key, (v) => parsePorts(v, key), [], 'is not a comma-separated list of ports 1-65535');
  const cidrs = (key: string) => parsed(key, (v) => parseCidrs(v, key), [], 'is not a comma-separated list of IPs or CIDRs');

  const policy = get(ANNOTATIONS.policy) ?? DEFAULT_POLICY_CONFIGMAP;
  if (!isDns1123Subdomain(policy)) throw new AnnotationError(ANNOTATIONS.policy, policy, 'is not a ConfigMap name (a lower-case DNS-1123 subdomain such as "checkout-faults")');
  const interception = (get(ANNOTATIONS.interception) ?? defaultInterception) as Interception;
  if (!INTERCEPTION_MODES.includes(interception)) throw new AnnotationError(ANNOTATIONS.interception, interception, 'must be "always", "on-demand" or "none"');
  const native = get(ANNOTATIONS.nativeSidecar) ?? 'false';
  if (native !== 'true' && native !== 'false') throw new AnnotationError(ANNOTATIONS.nativeSidecar, native, 'must be "true" or "false"');
  const interceptDns = get(ANNOTATIONS.interceptDns) ?? 'false';
  if (interceptDns !== 'true' && interceptDns !== 'false') throw new AnnotationError(ANNOTATIONS.interceptDns, interceptDns, 'must be "true" or "false"');
  const tlsCaSecret = get(ANNOTATIONS.tlsCaSecret);
  if (tlsCaSecret !== undefined && !isDns1123Subdomain(tlsCaSecret)) throw new AnnotationError(ANNOTATIONS.tlsCaSecret, tlsCaSecret, 'is not a Secret name (a lower-case DNS-1123 subdomain such as "faultline-tls-ca")');
  const include = get(ANNOTATIONS.includeInboundPorts);
  return {
    policy,
    includeInboundPorts: include === undefined || include.trim() === '*' ? '*' : ports(ANNOTATIONS.includeInboundPorts),
    excludeInboundPorts: ports(ANNOTATIONS.excludeInboundPorts),
    excludeOutboundPorts: ports(ANNOTATIONS.excludeOutboundPorts),
    includeOutboundCidrs: cidrs(ANNOTATIONS.includeOutboundCidrs),
    excludeOutboundCidrs: cidrs(ANNOTATIONS.excludeOutboundCidrs),
    interception,
    nativeSidecar: native === 'true',
    interceptDns: interceptDns === 'true',
    tlsCaSecret,
  };
}
