import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import t from 'tap';
import { exampleObjects, installObjects, toYaml, EXAMPLE_POLICY } from '../../src/kubernetes/manifests.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

const MANIFESTS = new URL('../../manifests/', import.meta.url);

t.test('faultline inject: multi-document YAML, only pod templates that ask for it change', async (t) => {
  const dir = tempDir(t);
  const input = join(dir, 'deploy.yaml');
  const deployment = JSON.parse(readFileSync(new URL('../fixtures/kubernetes/deployment.json', import.meta.url), 'utf8')).request.object;
  writeFileSync(input, `# a comment\napiVersion: v1\nkind: Service\nmetadata: {name: checkout}\nspec: {ports: [{port: 80}]}\n---\n${JSON.stringify(deployment)}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain}\nspec:\n  selector: {matchLabels: {app: plain}}\n  template:\n    metadata: {labels: {app: plain}}\n    spec: {containers: [{name: plain, image: nginx}]}\n`);
  const { code, stdout } = await runCli(['inject', '-f', input]);
  t.equal(code, 0);
  const docs = parseAllDocuments(stdout).map((d) => d.toJS());
  t.equal(docs.length, 3);
  t.equal(docs[0].kind, 'Service');
  t.same(docs[1].spec.template.spec.containers.map((c: { name: string }) => c.name), ['app', 'faultline'], 'the annotated Deployment gets the sidecar');
  t.doesNotThrow(() => new Deployment(docs[1]).validate());
  t.same(docs[2].spec.template.spec.containers.map((c: { name: string }) => c.name), ['plain'], 'the other one does not');
  const output = join(dir, 'injected.yaml');
  writeFileSync(output, stdout);
  const twice = await runCli(['inject', '-f', output]);
  t.same(parseAllDocuments(twice.stdout).map((d) => d.toJS()), docs, 'injecting the output again changes nothing');
});

t.test('manifests/ is what the typed builders make, and every object validates', async (t) => {
  t.equal(readFileSync(new URL('faultline.yaml', MANIFESTS), 'utf8'), toYaml(installObjects()), 'manifests/faultline.yaml is up to date (npm run manifests)');
  t.equal(readFileSync(new URL('example.yaml', MANIFESTS), 'utf8'), toYaml(exampleObjects()), 'manifests/example.yaml is up to date');
  const models: Record<string, new (o: never) => { validate(): void }> = { Deployment, Namespace, Service, ServiceAccount, ConfigMap, Role, RoleBinding, MutatingWebhookConfiguration };
  for (const object of [...installObjects(), ...exampleObjects()]) {
    const Model = models[object.kind as string];
    if (Model) t.doesNotThrow(() => new Model(object as never).validate(), `${object.kind} ${object.metadata?.name} validates`);
  }
  const config = installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as { webhooks: { failurePolicy: string; namespaceSelector: { matchExpressions: { values: string[] }[] } }[] };
  for (const webhook of config.webhooks) {
    t.equal(webhook.failurePolicy, 'Ignore', 'an outage never blocks pods');
    t.ok(webhook.namespaceSelector.matchExpressions.some((e) => e.values.includes('kube-system') && e.values.includes('faultline-system')), 'kube-system and our namespace are skipped');
  }
  t.doesNotThrow(() => compilePolicy(EXAMPLE_POLICY, 'example'), 'the example policy is valid');
});
