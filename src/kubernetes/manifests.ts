import { stringify } from 'yaml';
import { DEFAULT_IMAGE, PROXY_UID } from './builders.js';
import type { KubeObject } from './inject.js';

/** Every object of manifests/, built here so that the YAML files and the code never drift. */

export const NAMESPACE = 'faultline-system';
const NAME = 'faultline-webhook';
const labels = { 'app.kubernetes.io/name': 'faultline', 'app.kubernetes.io/component': 'webhook' };
const EXCLUDED_NAMESPACES = ['kube-system', NAMESPACE];

/**
 * manifests/faultline.yaml: the namespace, the webhook's ServiceAccount and RBAC, its certificate
 * (cert-manager), Deployment, Service and PodDisruptionBudget, and the MutatingWebhookConfiguration.
 */
export function installObjects(image = DEFAULT_IMAGE): KubeObject[] {
  const webhook = (name: string, path: string, namespaceSelector: Record<string, unknown>) => ({
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    // An outage of faultline never blocks pods from starting.
    failurePolicy: 'Ignore',
    reinvocationPolicy: 'Never',
    timeoutSeconds: 5,
    clientConfig: { service: { name: NAME, namespace: NAMESPACE, path, port: 443 } },
    namespaceSelector,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
  });
  const notExcluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: EXCLUDED_NAMESPACES };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'faultline-injection': 'disabled' } } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: NAMESPACE, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      // The webhook reads nothing from the API today; it may read its own ConfigMaps only.
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }],
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'faultline-selfsigned', namespace: NAMESPACE }, spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: NAME, namespace: NAMESPACE },
      spec: {
        secretName: `${NAME}-tls`,
        dnsNames: [`${NAME}.${NAMESPACE}.svc`, `${NAME}.${NAMESPACE}.svc.cluster.local`],
        issuerRef: { name: 'faultline-selfsigned', kind: 'Issuer' },
        duration: '8760h',
        renewBefore: '720h',
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            securityContext: { runAsNonRoot: true, runAsUser: PROXY_UID, runAsGroup: PROXY_UID, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'webhook',
                image,
                args: ['webhook', '--tls-cert', '/etc/faultline-webhook/tls.crt', '--tls-key', '/etc/faultline-webhook/tls.key', '--port', '8443', '--image', image],
                ports: [{ name: 'https', containerPort: 8443, protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' }, periodSeconds: 10 },
                resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'tls', mountPath: '/etc/faultline-webhook', readOnly: true }],
              },
            ],
            volumes: [{ name: 'tls', secret: { secretName: `${NAME}-tls` } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }] },
    },
    {
      // With failurePolicy Ignore, a webhook with no replica up means pods start without the
      // sidecar: voluntary disruptions (node drains) keep one replica serving.
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: { minAvailable: 1, selector: { matchLabels: labels } },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'faultline', labels, annotations: { 'cert-manager.io/inject-ca-from': `${NAMESPACE}/${NAME}` } },
      webhooks: [
        // Every pod of a namespace labelled faultline-injection=enabled (a pod may opt out).
        webhook('namespace.inject.faultline.dev', '/inject/namespace', { matchLabels: { 'faultline-injection': 'enabled' }, matchExpressions: [notExcluded] }),
        // Elsewhere, the pods that ask with faultline.dev/inject: "true".
        webhook('pod.inject.faultline.dev', '/inject', {
          matchExpressions: [notExcluded, { key: 'faultline-injection', operator: 'NotIn', values: ['enabled'] }],
        }),
      ],
    },
  ];
}

export const EXAMPLE_POLICY = `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata:
  name: example
spec:
  enabled: true
  rules:
    - name: slow-inbound
      match: {direction: inbound, ports: [8080]}
      faults:
        - {type: latency, latency: 200ms, jitter: 20ms, probability: 0.5}
    - name: flaky-outbound
      match: {direction: outbound}
      faults:
        - {type: reset, probability: 0.05}
`;

/** The example: a namespace, a policy ConfigMap and an app that asks for the sidecar. */
export function exampleObjects(): KubeObject[] {
  const app = { app: 'echo' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'faultline-demo' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'faultline-policy', namespace: 'faultline-demo' }, data: { 'policy.yaml': EXAMPLE_POLICY } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'echo', namespace: 'faultline-demo', labels: app },
      spec: {
        replicas: 1,
        selector: { matchLabels: app },
        template: {
          metadata: { labels: app, annotations: { 'faultline.dev/inject': 'true', 'faultline.dev/policy': 'faultline-policy' } },
          spec: {
            containers: [
              {
                name: 'echo',
                image: 'hashicorp/http-echo:1.0',
                args: ['-listen=:8080', '-text=hello from behind faultline'],
                ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
              },
            ],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'faultline-demo' }, spec: { selector: app, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } },
  ];
}

/** Multi-document YAML, as written to manifests/. */
export function toYaml(objects: KubeObject[]): string {
  const header = '# Generated by `npm run manifests` from src/kubernetes/manifests.ts; edit that file, not this one.\n';
  return header + objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
