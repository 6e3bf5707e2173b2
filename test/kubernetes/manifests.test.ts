import { readFileSync } from 'node:fs';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_IMAGE } from '../../src/kubernetes/builders.js';
import { injectObject } from '../../src/kubernetes/inject.js';
import { EXAMPLE_HEADER, EXAMPLE_POLICY, exampleObjects, installObjects, NAMESPACE, toYaml } from '../../src/kubernetes/manifests.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

const MANIFESTS = new URL('../../manifests/', import.meta.url);
const models: Record<string, new (o: never) => { validate(): void }> = { CustomResourceDefinition, Deployment, DaemonSet, Namespace, Service, ServiceAccount, ConfigMap, Secret, ClusterRole, ClusterRoleBinding, PodDisruptionBudget, MutatingWebhookConfiguration };
// cert-manager's kinds are not in kubernetes-models; their shape is checked below.
const CERT_MANAGER = new Set(['Issuer', 'Certificate']);

t.test('manifests/ is what the typed builders make', async (t) => {
  t.equal(readFileSync(new URL('faultline.yaml', MANIFESTS), 'utf8'), toYaml(installObjects()), 'manifests/faultline.yaml is up to date (npm run manifests)');
  t.equal(readFileSync(new URL('example.yaml', MANIFESTS), 'utf8'), toYaml(exampleObjects(), EXAMPLE_HEADER), 'manifests/example.yaml is up to date');
  const installed = await runCli(['install']);
  t.equal(installed.code, 0);
  t.equal(installed.stdout, readFileSync(new URL('faultline.yaml', MANIFESTS), 'utf8'), 'manifests/faultline.yaml is exactly `faultline install` with no flags');
  t.same(parseAllDocuments(readFileSync(new URL('faultline.yaml', MANIFESTS), 'utf8')).map((d) => d.toJS()), installObjects(), 'and parses back to the same objects');
  const dir = tempDir(t);
  const { code } = await runCli(['manifests', '--out', dir, '--image', 'registry.local/faultline:dev']);
  t.equal(code, 0);
  t.match(readFileSync(`${dir}/faultline.yaml`, 'utf8'), /image: registry\.local\/faultline:dev/, 'the hidden `faultline manifests` command writes them, image configurable');
});

t.test('every object validates against the Kubernetes schema', async (t) => {
  for (const object of [...installObjects(), ...exampleObjects()]) {
    const Model = models[String(object.kind)];
    if (Model) t.doesNotThrow(() => new Model(object as never).validate(), `${object.kind} ${object.metadata?.name} validates`);
    else t.ok(CERT_MANAGER.has(String(object.kind)), `${object.kind} is a cert-manager kind`);
  }
  const certificate = installObjects().find((o) => o.kind === 'Certificate') as unknown as { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string } } };
  t.same(certificate.spec.dnsNames, [`faultline-webhook.${NAMESPACE}.svc`, `faultline-webhook.${NAMESPACE}.svc.cluster.local`], 'the certificate names the webhook Service');
  const deployment = installObjects().find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { volumes: { secret: { secretName: string } }[] } } } };
  t.equal(deployment.spec.template.spec.volumes[0]?.secret.secretName, certificate.spec.secretName, 'the webhook mounts the Secret the certificate fills');
  t.ok(installObjects().some((o) => o.kind === 'Issuer' && o.metadata?.name === certificate.spec.issuerRef.name), 'from the Issuer it names');
});

t.test('the webhook configuration: failurePolicy Ignore, kube-system and our namespace skipped', async (t) => {
  const config = installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as {
    metadata: { annotations: Record<string, string> };
    webhooks: { failurePolicy: string; sideEffects: string; admissionReviewVersions: string[]; clientConfig: { service: { name: string; namespace: string; path: string } }; namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] }; rules: { operations: string[]; resources: string[] }[] }[];
  };
  t.equal(config.webhooks.length, 2);
  for (const webhook of config.webhooks) {
    t.equal(webhook.failurePolicy, 'Ignore', 'an outage never blocks pods');
    t.equal(webhook.sideEffects, 'NoneOnDryRun', 'it creates the credential Secrets, never on a dry run');
    t.same(webhook.admissionReviewVersions, ['v1']);
    t.ok(webhook.namespaceSelector.matchExpressions.some((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn' && e.values.includes('kube-system') && e.values.includes(NAMESPACE)), 'kube-system and our namespace are skipped');
    t.same(webhook.rules.map((r) => [r.operations, r.resources]), [[['CREATE'], ['pods']]], 'pods, on CREATE');
    t.equal(webhook.clientConfig.service.name, 'faultline-webhook');
  }
  t.same(config.webhooks.map((w) => w.clientConfig.service.path), ['/inject/namespace', '/inject'], 'labelled namespaces and annotated pods, each on its path');
  t.equal(config.metadata.annotations['cert-manager.io/inject-ca-from'], `${NAMESPACE}/faultline-webhook`, 'cert-manager fills the CA bundle');
});

t.test('the example: a valid policy, and an app that gets the sidecar', async (t) => {
  t.doesNotThrow(() => compilePolicy(EXAMPLE_POLICY, 'example'), 'the example policy is valid');
  const app = exampleObjects().find((o) => o.kind === 'Deployment');
  const { injected, object } = injectObject(app ?? {}, { image: DEFAULT_IMAGE });
  t.ok(injected, 'the example app asks for the sidecar');
  t.doesNotThrow(() => new Deployment(object as never).validate());
  const configMap = exampleObjects().find((o) => o.kind === 'ConfigMap') as unknown as { metadata: { name: string }; data: Record<string, string> };
  t.equal(configMap.metadata.name, 'faultline-policy', 'the ConfigMap the default policy annotation names');
  t.ok('policy.yaml' in configMap.data, 'with the key the sidecar reads');
});
