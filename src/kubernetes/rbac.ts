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
  return [
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name, labels: componentLabels },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: componentLabels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  ];
}
