import fastJsonPatch from 'fast-json-patch';
import { z } from 'zod';
import { AnnotationError } from './annotations.js';
import type { InjectOptions } from './builders.js';
import { injectObject, type KubeObject } from './inject.js';

const { compare } = fastJsonPatch;

/** The part of an AdmissionReview v1 request we read. */
const reviewSchema = z.object({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: z.object({
    uid: z.string().min(1),
    kind: z.object({ kind: z.string() }).passthrough().optional(),
    namespace: z.string().optional(),
    operation: z.string().optional(),
    object: z.record(z.string(), z.unknown()),
  }).passthrough(),
});

export interface AdmissionResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    status?: { code: number; message: string };
    warnings?: string[];
  };
}

export class BadReviewError extends Error {}

/**
 * Answers an AdmissionReview v1: a base64 JSONPatch (the diff of the object before and after
 * injection) when the pod template asks for the sidecar, none otherwise; a clear refusal when
 * an annotation is invalid. `namespaceEnabled` is true on the webhook path that the
 * namespace label `faultline-injection=enabled` selects.
 */
export function review(body: unknown, options: InjectOptions, namespaceEnabled: boolean): AdmissionResponse {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) throw new BadReviewError(`not an AdmissionReview v1: ${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.') ?? ''}`);
  const { uid, object } = parsed.data.request;
  const respond = (extra: Partial<AdmissionResponse['response']>): AdmissionResponse => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true, ...extra },
  });
  try {
    const before = object as KubeObject;
    const { object: after, injected } = injectObject(before, options, namespaceEnabled);
    if (!injected) return respond({});
    const patch = compare(before as object, after as object);
    return respond({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (err) {
    if (err instanceof AnnotationError) return respond({ allowed: false, status: { code: 400, message: `faultline: ${err.message}` } });
    throw err;
  }
}
