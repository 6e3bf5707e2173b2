import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { review } from '../../src/kubernetes/admission.js';
import { ANNOTATIONS } from '../../src/kubernetes/annotations.js';
import { DEFAULT_IMAGE } from '../../src/kubernetes/builders.js';
import { injectObject } from '../../src/kubernetes/inject.js';
import { reviewFixture } from '../helpers/kubernetes.js';

const options = { image: DEFAULT_IMAGE };
const decode = (patch: string | undefined) => JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8')) as fastJsonPatch.Operation[];

t.test('the patch is the diff of before and after, and applies cleanly', async (t) => {
  const fixture = reviewFixture('pod');
  const { response } = review(fixture, options, false);
  t.match(response, { uid: fixture.request.uid, allowed: true, patchType: 'JSONPatch' });
  const patch = decode(response.patch);
  t.ok(patch.every((op) => op.op === 'add'), 'a pod gains; it loses nothing');
  t.ok(patch.some((op) => op.path === '/metadata/annotations/faultline.dev~1status'), 'annotation keys are escaped (RFC 6901)');
  const patched = fastJsonPatch.applyPatch(structuredClone(fixture.request.object), patch, true).newDocument;
  t.same(patched, injectObject(fixture.request.object, options).object);
});

t.test('what is not ours to patch is allowed untouched', async (t) => {
  const answer = (mutate: (f: ReturnType<typeof reviewFixture>) => void, name = 'pod') => {
    const fixture = reviewFixture(name);
    mutate(fixture);
    return review(fixture, options, false).response;
  };
  t.same(answer((f) => ((f.request.operation = 'DELETE'), (f.request.object = null as never))), { uid: reviewFixture('pod').request.uid, allowed: true }, 'DELETE (no object)');
  t.notOk(answer((f) => (f.request.operation = 'UPDATE')).patch, 'a running pod (UPDATE) cannot gain containers');
  t.ok(answer((f) => (f.request.operation = 'UPDATE'), 'deployment').patch, 'a Deployment template can, on UPDATE');
  t.notOk(answer((f) => (f.request.operation = 'CONNECT')).patch, 'CONNECT');
  t.notOk(answer((f) => (f.request.object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).patch, 'a kind we do not inject');
  t.notOk(answer((f) => delete f.request.object.metadata?.annotations?.['faultline.dev/inject']).patch, 'a pod that does not ask');
  t.same(answer((f) => ((f.request.object.metadata as { annotations: Record<string, string> }).annotations['faultline.dev/polcy'] = 'x')).warnings, [
    `faultline: Pod shop/checkout-7d4b9c8f6-*: unknown annotation faultline.dev/polcy ignored (known: ${Object.values(ANNOTATIONS).join(', ')})`,
  ], 'a typo comes back as a warning kubectl shows, listing every annotation we know');
});

t.test('a bad annotation is refused with a 400 that names the object and the annotation', async (t) => {
  const fixture = reviewFixture('pod');
  (fixture.request.object.metadata as { annotations: Record<string, string> }).annotations['faultline.dev/include-inbound-ports'] = '99999';
  const { response } = review(fixture, options, false);
  t.equal(response.allowed, false);
  t.equal(response.patch, undefined);
  t.equal(response.status?.code, 400);
  t.match(response.status?.message, /^faultline: Pod shop\/checkout-7d4b9c8f6-\*: annotation faultline\.dev\/include-inbound-ports: "99999" is not a comma-separated list of ports/);
});

t.test('a body that is not an AdmissionReview v1 throws AdmissionReviewError', async (t) => {
  for (const body of [null, {}, { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u', object: {} } }, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', object: 'pod' } }]) {
    t.throws(() => review(body, options, false), { name: 'AdmissionReviewError', code: 'FL_ERR_ADMISSION_REVIEW', message: /^not an AdmissionReview v1/ }, JSON.stringify(body));
  }
});
