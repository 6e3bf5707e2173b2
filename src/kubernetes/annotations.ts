import { FaultlineError } from '../errors.js';
import { parseCidrs, parsePorts, type Cidr } from '../interception/values.js';

/** The pod annotations of SPEC.md ("Kubernetes"). */
export const ANNOTATIONS = {
  inject: 'faultline.dev/inject',
  policy: 'faultline.dev/policy',
  includeInboundPorts: 'faultline.dev/include-inbound-ports',
  excludeInboundPorts: 'faultline.dev/exclude-inbound-ports',
  excludeOutboundPorts: 'faultline.dev/exclude-outbound-ports',
  includeOutboundCidrs: 'faultline.dev/include-outbound-cidrs',
  excludeOutboundCidrs: 'faultline.dev/exclude-outbound-cidrs',
  interception: 'faultline.dev/interception',
  /** Written by the injector: what it injected, so that injecting again changes nothing. */
  status: 'faultline.dev/status',
} as const;

/** The namespace label that turns injection on for every pod in it. */
export const NAMESPACE_LABEL = 'faultline-injection';

/** A pod annotation with a value we refuse; the message names the annotation and the value. */
export class AnnotationError extends FaultlineError {
  constructor(annotation: string, value: string, why: string) {
    super('FL_ERR_ANNOTATION', `annotation ${annotation}: ${JSON.stringify(value)} ${why}`);
    this.name = 'AnnotationError';
  }
}

export interface InjectionSettings {
  policy: string;
  includeInboundPorts: number[] | '*';
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  includeOutboundCidrs: Cidr[];
  excludeOutboundCidrs: Cidr[];
  interception: 'always' | 'on-demand';
}

type Strings = Record<string, string> | undefined;

/**
 * Whether a pod asks for the sidecar: `faultline.dev/inject: "true"` as annotation or label,
 * or its namespace labelled `faultline-injection=enabled` (a pod can still opt out with "false").
 */
export function wantsInjection(annotations: Strings, labels: Strings, namespaceEnabled = false): boolean {
  const value = annotations?.[ANNOTATIONS.inject] ?? labels?.[ANNOTATIONS.inject];
  if (value !== undefined) return value === 'true';
  return namespaceEnabled;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Reads and validates every faultline annotation; throws AnnotationError on the first bad one. */
export function readSettings(annotations: Strings): InjectionSettings {
  const get = (key: string) => annotations?.[key];
  const ports = (key: string): number[] => {
    const value = get(key);
    if (value === undefined) return [];
    try {
      return parsePorts(value, key);
    } catch {
      throw new AnnotationError(key, value, 'is not a comma-separated list of ports 1-65535');
    }
  };
  const cidrs = (key: string): Cidr[] => {
    const value = get(key);
    if (value === undefined) return [];
    try {
      return parseCidrs(value, key);
    } catch {
      throw new AnnotationError(key, value, 'is not a comma-separated list of IPs or CIDRs');
    }
  };
  const policy = get(ANNOTATIONS.policy) ?? 'faultline-policy';
  if (!DNS_LABEL.test(policy) || policy.length > 253) throw new AnnotationError(ANNOTATIONS.policy, policy, 'is not a ConfigMap name (lower-case DNS subdomain)');
  const interception = get(ANNOTATIONS.interception) ?? 'always';
  if (interception !== 'always' && interception !== 'on-demand') throw new AnnotationError(ANNOTATIONS.interception, interception, 'must be "always" or "on-demand"');
  if (interception === 'on-demand') throw new AnnotationError(ANNOTATIONS.interception, interception, 'is not supported by this version yet (use "always")');
  const include = get(ANNOTATIONS.includeInboundPorts);
  return {
    policy,
    includeInboundPorts: include === undefined || include.trim() === '*' ? '*' : ports(ANNOTATIONS.includeInboundPorts),
    excludeInboundPorts: ports(ANNOTATIONS.excludeInboundPorts),
    excludeOutboundPorts: ports(ANNOTATIONS.excludeOutboundPorts),
    includeOutboundCidrs: cidrs(ANNOTATIONS.includeOutboundCidrs),
    excludeOutboundCidrs: cidrs(ANNOTATIONS.excludeOutboundCidrs),
    interception,
  };
}
