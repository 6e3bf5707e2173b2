import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Pod } from 'kubernetes-models/v1/Pod';
import t from 'tap';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { DEFAULT_IMAGE } from '../../src/kubernetes/builders.js';
import { injectObject, podTemplateOf, type KubeObject } from '../../src/kubernetes/inject.js';
import { createWebhookServer } from '../../src/kubernetes/webhook.js';
import { tempDir } from '../helpers/sidecar.js';

const FIXTURES = new URL('../fixtures/kubernetes/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as { request: { uid: string; object: KubeObject } };
const validators: Record<string, (o: KubeObject) => void> = {
  Pod: (o) => new Pod(o as never).validate(),
  Deployment: (o) => new Deployment(o as never).validate(),
  StatefulSet: (o) => new StatefulSet(o as never).validate(),
  Job: (o) => new Job(o as never).validate(),
  CronJob: (o) => new CronJob(o as never).validate(),
};

t.test('the webhook patches real AdmissionReviews into valid objects, over TLS', async (t) => {
  const dir = tempDir(t);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=faultline-webhook.faultline-system.svc', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const server = createWebhookServer({ cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) }, { image: DEFAULT_IMAGE }, pino({ level: 'silent' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(dir, 'cert.pem')) } });
  t.teardown(() => dispatcher.close());
  const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  const post = async (path: string, body: string) => {
    const res = await request(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher });
    return { status: res.statusCode, json: (await res.body.json()) as { response: { uid: string; allowed: boolean; patch?: string; patchType?: string; status?: { message: string } }; error?: string } };
  };

  const health = await request(`${base}/healthz`, { dispatcher });
  t.equal(health.statusCode, 200, '/healthz answers');
  await health.body.dump();

  for (const name of ['pod', 'deployment', 'statefulset', 'job', 'cronjob']) {
    const review = fixture(name);
    const { status, json } = await post('/inject', JSON.stringify(review));
    t.equal(status, 200, `${name}: 200`);
    t.equal(json.response.uid, review.request.uid, `${name}: the uid is echoed`);
    t.equal(json.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(json.response.patch ?? '', 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const patched = fastJsonPatch.applyPatch(structuredClone(review.request.object), patch).newDocument;
    const template = podTemplateOf(patched) as unknown as { spec: { containers: { name: string; securityContext: { runAsUser: number } }[]; initContainers: { args: string[]; securityContext: { capabilities: { add: string[] } } }[] } };
    t.same(template.spec.containers.map((c) => c.name), ['app', 'faultline'], `${name}: the sidecar is added`);
    t.equal(template.spec.containers[1]?.securityContext.runAsUser, 1337);
    t.same(template.spec.initContainers[0]?.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
    t.match(template.spec.initContainers[0]?.args.join(' '), '--exclude-outbound-ports 5432 --exclude-outbound-cidrs 10.96.0.0/12');
    t.doesNotThrow(() => validators[patched.kind as string]?.(patched), `${name}: the patched ${patched.kind} validates against the Kubernetes schema`);
    const again = injectObject(patched, { image: DEFAULT_IMAGE });
    t.notOk(again.injected, `${name}: injecting twice changes nothing`);
    t.same(again.object, patched);
  }

  const opted = fixture('pod');
  delete opted.request.object.metadata?.annotations?.['faultline.dev/inject'];
  t.equal((await post('/inject', JSON.stringify(opted))).json.response.patch, undefined, 'a pod that does not ask is left alone');
  t.ok((await post('/inject/namespace', JSON.stringify(opted))).json.response.patch, 'unless its namespace is labelled');

  for (const [annotation, value] of [
    ['faultline.dev/exclude-outbound-ports', '80; rm -rf /'],
    ['faultline.dev/exclude-outbound-cidrs', '0/0 -j ACCEPT'],
    ['faultline.dev/include-inbound-ports', '99999'],
    ['faultline.dev/policy', '../../etc/passwd'],
    ['faultline.dev/interception', 'sometimes'],
  ] as const) {
    const hostile = fixture('pod');
    (hostile.request.object.metadata as { annotations: Record<string, string> }).annotations[annotation] = value;
    const { json } = await post('/inject', JSON.stringify(hostile));
    t.equal(json.response.allowed, false, `${annotation}: ${value} is refused`);
    t.match(json.response.status?.message, `annotation ${annotation}: ${JSON.stringify(value)}`, 'the message names the annotation and its value');
  }

  const garbage = await post('/inject', '{"not": "a review"');
  t.equal(garbage.status, 400, 'malformed JSON: 400');
  const wrong = await post('/inject', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }));
  t.equal(wrong.status, 400, 'not an AdmissionReview: 400');
  t.equal((await request(`${base}/healthz`, { dispatcher })).statusCode, 200, 'and the webhook lives on');
});
