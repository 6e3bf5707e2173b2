import fastJsonPatch from 'fast-json-patch';
import { z } from 'zod';
import { AdmissionReviewError, AnnotationError } from '../errors.js';
import type { InjectOptions } from './builders.js';
import { describeObject, injectObject, type KubeObject } from './inject.js';

const { compare } = fastJsonPatch;

/** The part of an AdmissionReview v1 request we read; everything else passes through untouched. */
const reviewSchema = z.object({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    namespace: z.string().optional(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']).optional(),
    // A dry run (kubectl apply --dry-run=server) must have no side effect: no Secret is created.
    dryRun: z.boolean().optional(),
    // null on DELETE and CONNECT.
    object: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
});

/** The workload kinds whose pod template we inject; a Pod only when it is created. */
export const INJECTED_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'] as const;

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

/** The RFC 6902 patch that turns `before` into `after`: the diff, never hand-written operations. */
export function jsonPatch(before: KubeObject, after: KubeObject): fastJsonPatch.Operation[] {
  return compare(before as object, after as object);
}

/**
 * Answers an AdmissionReview v1: a base64 JSONPatch (the diff of the object before and after
 * injection) when the pod template asks for the sidecar, none otherwise; a refusal naming the
 * annotation when one is invalid. `namespaceEnabled` is true on the webhook path that the
 * namespace label `faultline-injection=enabled` selects. Throws AdmissionReviewError when the
 * body is not an AdmissionReview v1 (the server answers 400).
 */
export function review(body: unknown, options: InjectOptions, namespaceEnabled: boolean): AdmissionResponse {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdmissionReviewError(`not an AdmissionReview v1: ${issue?.message ?? 'invalid'}${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}`);
  }
  const { uid, object, operation } = parsed.data.request;
  const respond = (extra: Partial<AdmissionResponse['response']> = {}): AdmissionResponse => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true, ...extra },
  });
  const before = object as KubeObject | null | undefined;
  if (!before || !(INJECTED_KINDS as readonly string[]).includes(String(before.kind))) return respond();
  // A running pod's containers cannot change; templates may be patched on UPDATE too.
  if (operation !== undefined && operation !== 'CREATE' && (before.kind === 'Pod' || operation !== 'UPDATE')) return respond();
  try {
    const { object: after, injected, warnings } = injectObject(before, options, namespaceEnabled);
    const extra = warnings.length > 0 ? { warnings } : {};
    if (!injected) return respond(extra);
    const patch = jsonPatch(before, after);
    return respond({ ...extra, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (err) {
    if (err instanceof AnnotationError) {
      return respond({ allowed: false, status: { code: 400, message: `faultline: ${describeObject({ ...before, metadata: { ...before.metadata, namespace: before.metadata?.namespace ?? parsed.data.request.namespace } })}: ${err.message}` } });
    }
    throw err;
  }
}
