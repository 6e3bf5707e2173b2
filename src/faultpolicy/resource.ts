import { z } from 'zod';
import { PolicyError } from '../errors.js';
import type { Requirement } from '../fleet/selector.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { API_VERSION, KIND, policySpecSchema } from '../policy/schema.js';

/**
 * The FaultPolicy custom resource (`faultpolicies.faultline.dev`, namespaced, v1alpha1): its
 * `spec` is a policy's spec plus which pods it is for (`selector`, `mode`, `value`). Its schema
 * is this zod schema; the CRD's openAPIV3Schema is generated from it (crd.ts).
 */

export const GROUP = 'faultline.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'faultpolicies';
export const RESOURCE = `${GROUP}/${VERSION}/${PLURAL}`;
/** Where the namespaced collection lives on the API server. */
export const collectionPath = (namespace?: string): string => `/apis/${GROUP}/${VERSION}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/${PLURAL}`;

export const SELECTION_MODES = ['all', 'one', 'fixed', 'fixed-percent'] as const;
export type SelectionMode = (typeof SELECTION_MODES)[number];

/** A Kubernetes LabelSelector (metav1.LabelSelector). */
export const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string().min(1),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
export type LabelSelector = z.output<typeof labelSelectorSchema>;

/** The fields a resource's spec has beyond a policy's: the pods it selects. */
export const selectionShape = {
  /** Pods of the object's namespace whose labels match; absent: every injected pod there. */
  selector: labelSelectorSchema.optional(),
  /** all: every matching pod; one, fixed (value pods), fixed-percent (value % of them, rounded down). */
  mode: z.enum(SELECTION_MODES).default('all'),
  value: z.number().int().min(0).optional(),
};

/** The resource's spec: the policy spec, and the pods it selects. */
export const faultPolicySpecSchema = policySpecSchema.extend(selectionShape);

/** Whether a parsed document is a FaultPolicy resource with a selection (rather than a policy file). */
export function hasSelection(doc: unknown): boolean {
  const spec = (doc as { kind?: unknown; spec?: Record<string, unknown> } | null)?.spec;
  return (doc as { kind?: unknown } | null)?.kind === KIND && !!spec && typeof spec === 'object' && Object.keys(selectionShape).some((k) => k in spec);
}

/** The parts of a FaultPolicy object the sidecar and the controller read. */
export interface FaultPolicyObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: string; [key: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** Which pods a policy is for, checked. */
export interface Selection {
  mode: SelectionMode;
  value: number;
  requirements: Requirement[];
}

/** A FaultPolicy object checked as the sidecar applies it: its policy compiled, its selection parsed. */
export type CheckedPolicy = { ok: true; policy: CompiledPolicy; selection: Selection; rules: Record<string, unknown>[]; listeners: Record<string, unknown>[] } | { ok: false; problems: string[] };

const SELECTION_KEYS = new Set(['selector', 'mode', 'value']);

/** The label requirements of a LabelSelector (the same matcher as `-l`); matchLabels are `=`. */
export function selectorRequirements(selector: LabelSelector | undefined): Requirement[] {
  const requirements: Requirement[] = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => ({ key, operator: '=', values: [value] }));
  for (const e of selector?.matchExpressions ?? []) {
    const operator = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' } as const)[e.operator];
    requirements.push({ key: e.key, operator, values: e.values ?? [] });
  }
  return requirements;
}

/** A LabelSelector as the `labelSelector` query parameter of a list. */
export function selectorQuery(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    parts.push({ In: `${e.key} in (${values})`, NotIn: `${e.key} notin (${values})`, Exists: e.key, DoesNotExist: `!${e.key}` }[e.operator]);
  }
  return parts.join(',');
}

/** What the schema cannot say about the selection: value's presence and range, expressions' values. */
export function selectionProblems(spec: z.output<typeof faultPolicySpecSchema>): string[] {
  const problems: string[] = [];
  if ((spec.mode === 'fixed' || spec.mode === 'fixed-percent') && spec.value === undefined) problems.push(`spec.value: required with mode ${spec.mode}`);
  if ((spec.mode === 'all' || spec.mode === 'one') && spec.value !== undefined) problems.push(`spec.value: does not apply to mode ${spec.mode}`);
  if (spec.mode === 'fixed-percent' && spec.value !== undefined && spec.value > 100) problems.push('spec.value: a percentage is 0-100');
  (spec.selector?.matchExpressions ?? []).forEach((e, i) => {
    const needs = e.operator === 'In' || e.operator === 'NotIn';
    if (needs && !e.values?.length) problems.push(`spec.selector.matchExpressions[${i}].values: ${e.operator} needs at least one value`);
    if (!needs && e.values?.length) problems.push(`spec.selector.matchExpressions[${i}].values: ${e.operator} takes no values`);
  });
  return problems;
}

/**
 * Checks a FaultPolicy object the way the sidecar will apply it: the selection, then its policy
 * (selector, mode and value removed) through the policy loader, every fault type's own fields
 * included, which the CRD's schema cannot check. Problems are one line each, with their path.
 */
export function checkFaultPolicy(object: FaultPolicyObject, options: { kernelFaults?: boolean; knownListeners?: readonly string[] } = {}): CheckedPolicy {
  const spec = object.spec ?? {};
  const parsed = faultPolicySpecSchema.safeParse(spec);
  const problems: string[] = [];
  if (parsed.success) problems.push(...selectionProblems(parsed.data));
  const policySpec = Object.fromEntries(Object.entries(spec).filter(([key]) => !SELECTION_KEYS.has(key)));
  const doc = { apiVersion: API_VERSION, kind: KIND, metadata: { name: object.metadata.name }, spec: policySpec };
  let policy: CompiledPolicy | undefined;
  try {
    policy = compilePolicy(JSON.stringify(doc), `faultpolicy/${object.metadata.name}`, options);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    problems.push(...err.problems.map((p) => p.message));
  }
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      if (issue.path.length > 0 && SELECTION_KEYS.has(String(issue.path[0]))) problems.push(`spec${path}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !policy || !parsed.success) return { ok: false, problems: problems.length ? problems : ['spec: invalid'] };
  const raw = policySpec as { rules?: Record<string, unknown>[]; listeners?: Record<string, unknown>[] };
  return {
    ok: true,
    policy,
    selection: { mode: parsed.data.mode, value: parsed.data.value ?? 0, requirements: selectorRequirements(parsed.data.selector) },
    rules: raw.rules ?? [],
    listeners: raw.listeners ?? [],
  };
}
