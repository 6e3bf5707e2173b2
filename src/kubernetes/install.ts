import { VERSION } from '../version.js';
import type { Interception } from './annotations.js';
import { DEFAULT_IMAGE, PROXY_UID } from './builders.js';
import type { WebhookCertificates } from './certificates.js';
import type { KubeObject } from './inject.js';
import { controllerRbac, faultPolicyUserRoles, sidecarRole, userRoles, webhookRbac } from './rbac.js';
import { faultPolicyCrd } from '../faultpolicy/crd.js';

export const NAMESPACE = 'faultline-system';
export const WEBHOOK_NAME = 'faultline-webhook';
export const CONTROLLER_NAME = 'faultline-controller';
const labels = { 'app.kubernetes.io/name': 'faultline', 'app.kubernetes.io/component': 'webhook' };
const controllerLabels = { 'app.kubernetes.io/name': 'faultline', 'app.kubernetes.io/component': 'controller' };

/** What `faultline install` renders. */
export interface InstallOptions {
  image?: string;
  namespace?: string;
  /** The webhook's default for pods that do not say (`--default-interception`). */
  interception?: Interception;
  /** Certificates made now (`--certificates generate`); cert-manager issues them otherwise. */
  certificates?: WebhookCertificates;
}

/** The DNS names the webhook's serving certificate must carry. */
export function webhookDnsNames(namespace = NAMESPACE): string[] {
  return [`${WEBHOOK_NAME}.${namespace}.svc`, `${WEBHOOK_NAME}.${namespace}.svc.cluster.local`];
}

/** The webhook certificate: cert-manager's Issuer and Certificate, or a Secret made at render time. */
function certificateObjects(namespace: string, certificates: WebhookCertificates | undefined): KubeObject[] {
  if (certificates) {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    return [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${WEBHOOK_NAME}-tls`, namespace, labels },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(certificates.cert), 'tls.key': b64(certificates.key), 'ca.crt': b64(certificates.caCert) },
      },
    ];
  }
  return [
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'faultline-selfsigned', namespace }, spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: WEBHOOK_NAME, namespace },
      spec: {
        secretName: `${WEBHOOK_NAME}-tls`,
        dnsNames: webhookDnsNames(namespace),
        issuerRef: { name: 'faultline-selfsigned', kind: 'Issuer' },
        duration: '8760h',
        renewBefore: '720h',
      },
    },
  ];
}

/**
 * Everything the cluster needs, like `linkerd install`: the FaultPolicy CRD, the namespace, the
 * webhook's ServiceAccount and its permissions (create Secrets, and RoleBindings to
 * faultline-sidecar), the user ClusterRoles (view, killswitch, rules) and the sidecars' one
 * (faultline-sidecar), the webhook certificate (cert-manager, or generated), its Deployment,
 * Service and PodDisruptionBudget, the MutatingWebhookConfiguration, and the FaultPolicy
 * controller with its RBAC. With no options it is exactly manifests/faultline.yaml.
 */
export function installObjects(options: InstallOptions = {}): KubeObject[] {
  const image = options.image ?? DEFAULT_IMAGE;
  const namespace = options.namespace ?? NAMESPACE;
  const interception = options.interception ?? 'always';
  const excluded = [...new Set(['kube-system', namespace])];
  const clientConfig = (path: string) => ({
    service: { name: WEBHOOK_NAME, namespace, path, port: 443 },
    ...(options.certificates ? { caBundle: Buffer.from(options.certificates.caCert).toString('base64') } : {}),
  });
  const webhook = (name: string, path: string, namespaceSelector: Record<string, unknown>) => ({
    name,
    admissionReviewVersions: ['v1'],
    // The webhook creates the namespace's credential Secrets, but never on a dry run.
    sideEffects: 'NoneOnDryRun',
    // An outage of faultline never blocks pods from starting.
    failurePolicy: 'Ignore',
    reinvocationPolicy: 'Never',
    timeoutSeconds: 5,
    clientConfig: clientConfig(path),
    namespaceSelector,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
  });
  const notExcluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excluded };
  return [
    faultPolicyCrd(),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'faultline-injection': 'disabled' } } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: WEBHOOK_NAME, namespace, labels } },
    ...webhookRbac(WEBHOOK_NAME, namespace, labels),
    ...userRoles(),
    sidecarRole(),
    ...faultPolicyUserRoles(),
    ...certificateObjects(namespace, options.certificates),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: WEBHOOK_NAME, namespace, labels: { ...labels, 'app.kubernetes.io/version': VERSION } },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: WEBHOOK_NAME,
            securityContext: { runAsNonRoot: true, runAsUser: PROXY_UID, runAsGroup: PROXY_UID, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'webhook',
                image,
                args: ['webhook', '--tls-cert', '/etc/faultline-webhook/tls.crt', '--tls-key', '/etc/faultline-webhook/tls.key', '--port', '8443', '--image', image, '--default-interception', interception],
                ports: [{ name: 'https', containerPort: 8443, protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' }, periodSeconds: 10 },
                resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'tls', mountPath: '/etc/faultline-webhook', readOnly: true }],
              },
            ],
            volumes: [{ name: 'tls', secret: { secretName: `${WEBHOOK_NAME}-tls` } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: WEBHOOK_NAME, namespace, labels },
      spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }] },
    },
    {
      // With failurePolicy Ignore, a webhook with no replica up means pods start without the
      // sidecar: voluntary disruptions (node drains) keep one replica serving.
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: WEBHOOK_NAME, namespace, labels },
      spec: { minAvailable: 1, selector: { matchLabels: labels } },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'faultline', labels, ...(options.certificates ? {} : { annotations: { 'cert-manager.io/inject-ca-from': `${namespace}/${WEBHOOK_NAME}` } }) },
      webhooks: [
        // Every pod of a namespace labelled faultline-injection=enabled (a pod may opt out).
        webhook('namespace.inject.faultline.dev', '/inject/namespace', { matchLabels: { 'faultline-injection': 'enabled' }, matchExpressions: [notExcluded] }),
        // Elsewhere, the pods that ask with faultline.dev/inject: "true".
        webhook('pod.inject.faultline.dev', '/inject', {
          matchExpressions: [notExcluded, { key: 'faultline-injection', operator: 'NotIn', values: ['enabled'] }],
        }),
      ],
    },
    // The FaultPolicy controller: the objects' status.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: CONTROLLER_NAME, namespace, labels: controllerLabels } },
    ...controllerRbac(CONTROLLER_NAME, namespace, controllerLabels),
    controllerDeployment(image, namespace),
  ];
}

/**
 * The FaultPolicy controller: one replica (two during a rollout write the same status, which
 * is harmless), UID 1337, read-only root, no capability; /healthz on 15020.
 */
function controllerDeployment(image: string, namespace: string): KubeObject {
  const probe = (path: string, periodSeconds: number) => ({ httpGet: { path, port: 15020 }, periodSeconds });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: CONTROLLER_NAME, namespace, labels: { ...controllerLabels, 'app.kubernetes.io/version': VERSION } },
    spec: {
      replicas: 1,
      selector: { matchLabels: controllerLabels },
      template: {
        metadata: { labels: controllerLabels },
        spec: {
          serviceAccountName: CONTROLLER_NAME,
          securityContext: { runAsNonRoot: true, runAsUser: PROXY_UID, runAsGroup: PROXY_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'controller',
              image,
              args: ['controller', '--health', '0.0.0.0:15020'],
              ports: [{ name: 'health', containerPort: 15020, protocol: 'TCP' }],
              readinessProbe: probe('/readyz', 5),
              livenessProbe: probe('/healthz', 10),
              resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '500m', memory: '192Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}
