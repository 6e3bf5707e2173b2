import { ADMIN_VERBS, credentialSecretName, levelsUpTo, type AdminVerb } from '../admin/verbs.js';
import type { KubeObject } from './inject.js';

const RBAC = 'rbac.authorization.k8s.io/v1';
const labels = { 'app.kubernetes.io/name': 'faultline', 'app.kubernetes.io/component': 'rbac' };

/** The pod proxy calls each level makes (the API server maps GET→get, POST→create, DELETE→delete on pods/proxy). */
const PROXY_VERBS: Record<AdminVerb, string[]> = { view: ['get'], killswitch: ['get', 'create', 'delete'], rules: ['get', 'create', 'delete'] };

/** The name of the ClusterRole of a level: faultline-view, faultline-killswitch, faultline-rules. */
export const userRoleName = (verb: AdminVerb): string => `faultline-${verb}`;

/**
 * The ClusterRole a user needs for `faultline` commands of one level, meant to be granted per
 * namespace with a RoleBinding: list the pods, reach their sidecars through the pod proxy with
 * the verbs that level's calls use, read the namespace (to say when it does not exist), and
 * read only the credential Secrets of that level and below, by name.
 */
export function userRole(verb: AdminVerb): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name: userRoleName(verb), labels },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/proxy'], verbs: PROXY_VERBS[verb] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: levelsUpTo(verb).map(credentialSecretName), verbs: ['get'] },
    ],
  };
}

/** The three user ClusterRoles. */
export function userRoles(): KubeObject[] {
  return ADMIN_VERBS.map(userRole);
}

/**
 * The webhook's own permission: `create` on Secrets, to give each namespace it injects into its
 * credential Secrets. A ClusterRole because a namespace is not known in advance and `create`
 * cannot be limited by name; it reads no Secret at all.
 */
export function webhookRbac(name: string, namespace: string, componentLabels: Record<string, string>): KubeObject[] {
  return clusterRoleFor(name, namespace, componentLabels, [
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    // Each namespace's RoleBinding of its injected pods' ServiceAccounts to faultline-sidecar:
    // `bind` on that one ClusterRole, so the webhook needs none of its permissions itself.
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: [SIDECAR_ROLE], verbs: ['bind'] },
  ]);
}

/** A ClusterRole with `rules` and its ClusterRoleBinding to the ServiceAccount of the same name. */
function clusterRoleFor(name: string, namespace: string, componentLabels: Record<string, string>, rules: Record<string, unknown>[]): KubeObject[] {
  return [
    { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, labels: componentLabels }, rules },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: componentLabels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  ];
}

/** The ClusterRole an injected pod's ServiceAccount is bound to in its namespace (a RoleBinding the webhook creates). */
export const SIDECAR_ROLE = 'faultline-sidecar';

/**
 * What a sidecar needs to follow FaultPolicy objects, granted per namespace: read the
 * namespace's FaultPolicies (list, then watch), and list its pods, for the selections that
 * count them (one, fixed, fixed-percent): it asks for their metadata only. Its own labels come
 * from the Downward API, which needs no permission.
 */
export function sidecarRole(): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name: SIDECAR_ROLE, labels },
    rules: [
      { apiGroups: ['faultline.dev'], resources: ['faultpolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ],
  };
}

/** The RoleBinding of a namespace's ServiceAccount to faultline-sidecar (one per ServiceAccount of injected pods). */
export function sidecarRoleBinding(namespace: string, serviceAccount: string): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'RoleBinding',
    metadata: { name: `${SIDECAR_ROLE}-${serviceAccount}`.slice(0, 253), namespace, labels: { 'app.kubernetes.io/managed-by': 'faultline' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: SIDECAR_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
  };
}

/**
 * The FaultPolicy controller's permissions, cluster-wide: watch FaultPolicies and write their
 * status, and list pods (which a selection counts, and their IPs: it reads each selected pod's
 * applied generation from its metrics port, with no API permission for that).
 */
export function controllerRbac(name: string, namespace: string, componentLabels: Record<string, string>): KubeObject[] {
  return clusterRoleFor(name, namespace, componentLabels, [
    { apiGroups: ['faultline.dev'], resources: ['faultpolicies'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['faultline.dev'], resources: ['faultpolicies/status'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  ]);
}

/**
 * FaultPolicy access for people, aggregated into Kubernetes' own roles (as CRDs usually do): who
 * holds `admin` or `edit` in a namespace may manage its FaultPolicies, who holds `view` may read
 * them. The status stays the controller's.
 */
export function faultPolicyUserRoles(): KubeObject[] {
  const aggregate = (to: string[]) => Object.fromEntries(to.map((role) => [`rbac.authorization.k8s.io/aggregate-to-${role}`, 'true']));
  const role = (name: string, verbs: string[], to: string[]): KubeObject => ({
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name, labels: { ...labels, ...aggregate(to) } },
    rules: [{ apiGroups: ['faultline.dev'], resources: ['faultpolicies'], verbs }],
  });
  return [
    role('faultline-faultpolicy-edit', ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'], ['admin', 'edit']),
    role('faultline-faultpolicy-view', ['get', 'list', 'watch'], ['view']),
  ];
}
