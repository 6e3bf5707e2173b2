import { z } from 'zod';
import { faultRegistry } from '../faults/index.js';
import type { KubeObject } from '../kubernetes/inject.js';
import { commonFaultSchema } from '../policy/schema.js';
import { faultPolicySpecSchema, GROUP, PLURAL, VERSION } from './resource.js';

type Schema = Record<string, unknown>;

/**
 * A JSON Schema from zod made a Kubernetes structural schema: no `$ref`, `default` or `const`,
 * no `additionalProperties: false` (unknown fields are pruned, or refused by strict field
 * validation, `kubectl`'s default), `x-kubernetes-preserve-unknown-fields` where zod allows any
 * key (a fault entry), `x-kubernetes-int-or-string` where a value is a number or a string
 * (durations, sizes, rates), and `date-time` strings without zod's long pattern.
 */
export function toStructural(node: Schema): Schema {
  const out: Schema = {};
  const anyOf = node.anyOf as Schema[] | undefined;
  if (anyOf) {
    const types = new Set(anyOf.map((s) => s.type));
    if (types.size === 2 && types.has('string') && (types.has('number') || types.has('integer'))) {
      return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], ...(node.description ? { description: node.description } : {}) };
    }
    throw new Error(`no structural schema for anyOf ${JSON.stringify(anyOf)}`);
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'default' || key === 'id') continue;
    // zod's bounds of a plain int say nothing a user needs (and int64 holds them anyway).
    if ((key === 'maximum' && value === Number.MAX_SAFE_INTEGER) || (key === 'minimum' && value === Number.MIN_SAFE_INTEGER)) continue;
    if (key === 'const') out.enum = [value];
    else if (key === 'pattern' && node.format === 'date-time') continue;
    else if (key === 'properties') out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toStructural(v)]));
    else if (key === 'items') out.items = toStructural(value as Schema);
    else if (key === 'additionalProperties') {
      if (value === false) continue;
      if (value === true || (typeof value === 'object' && Object.keys(value as object).length === 0)) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out.additionalProperties = toStructural(value as Schema);
    } else if (key === '$ref' || key === '$defs' || key === 'definitions' || key === 'allOf' || key === 'oneOf' || key === 'not') {
      throw new Error(`no structural schema for ${key}`);
    } else out[key] = value;
  }
  if (out.type === 'number' && node.multipleOf === 1) out.type = 'integer';
  return out;
}

/** A zod schema as a structural schema (its input side: what users write). */
function fromZod(schema: z.ZodType): Schema {
  return toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw', target: 'openapi-3.0' }) as Schema);
}

/**
 * A fault entry: the fields every fault takes and a known `type`; the type's own fields
 * (latency's `latency`, http_abort's `status`...) are kept as written and checked by the
 * sidecar, which reports problems in the object's status.
 */
function faultEntrySchema(): Schema {
  const entry = fromZod(commonFaultSchema.extend({ type: z.enum([...faultRegistry.keys()] as [string, ...string[]]) }));
  return { ...entry, 'x-kubernetes-preserve-unknown-fields': true };
}

/** The openAPIV3Schema of a FaultPolicy: apiVersion, kind, metadata, the spec from its zod schema, the status the controller writes. */
export function faultPolicySchema(): Schema {
  const spec = fromZod(faultPolicySpecSchema) as { properties: Record<string, Schema> };
  const rules = spec.properties.rules as { items: { properties: Record<string, Schema> } };
  (rules.items.properties.faults as Schema).items = faultEntrySchema();
  // A rule needs faults unless it only terminates TLS: a condition across fields, so CEL.
  (rules.items as Schema)['x-kubernetes-validations'] = [{ rule: "(has(self.tls) && self.tls == 'terminate') || (has(self.faults) && size(self.faults) > 0)", message: 'a rule needs at least one fault (or tls: terminate)' }];
  // Defaulted by the API server, so that `kubectl get` shows it (the sidecars read a missing mode as all too).
  spec.properties.mode = { ...spec.properties.mode, default: 'all', description: 'all: every matching pod; one; fixed: value pods; fixed-percent: value % of them, rounded down' };
  // What a structural schema cannot say across fields, as CEL rules the API server checks (Kubernetes 1.25+).
  (spec as Schema)['x-kubernetes-validations'] = [
    { rule: "!has(self.mode) || !(self.mode in ['fixed', 'fixed-percent']) || has(self.value)", message: 'value is required with mode fixed and fixed-percent' },
    { rule: "!has(self.mode) || self.mode != 'fixed-percent' || !has(self.value) || self.value <= 100", message: 'a fixed-percent value is 0-100' },
  ];
  const status: Schema = {
    type: 'object',
    properties: {
      observedGeneration: { type: 'integer', format: 'int64' },
      selectedPods: { type: 'integer' },
      appliedPods: { type: 'integer' },
      pods: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, hash: { type: 'string' }, generation: { type: 'integer', format: 'int64' }, error: { type: 'string' } },
        },
      },
      conditions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['type', 'status'],
          properties: {
            type: { type: 'string' },
            status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
            observedGeneration: { type: 'integer', format: 'int64' },
            lastTransitionTime: { type: 'string', format: 'date-time' },
            reason: { type: 'string' },
            message: { type: 'string' },
          },
        },
      },
    },
  };
  return {
    type: 'object',
    required: ['spec'],
    properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, spec, status },
  };
}

/**
 * The CustomResourceDefinition `faultpolicies.faultline.dev`: namespaced, v1alpha1, short name
 * `fp`, a status subresource (only the controller writes it), and printer columns for `kubectl
 * get faultpolicies`: Mode, Selected, Applied, Age. `manifests/` holds it as `faultline install`
 * renders it; a test checks that against this generator.
 */
export function faultPolicyCrd(): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'faultline', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural: PLURAL, singular: 'faultpolicy', kind: 'FaultPolicy', listKind: 'FaultPolicyList', shortNames: ['fp'], categories: ['faultline'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Selected', type: 'integer', jsonPath: '.status.selectedPods', description: 'pods the policy selects' },
            { name: 'Applied', type: 'integer', jsonPath: '.status.appliedPods', description: 'selected pods whose sidecar applied the current generation' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: faultPolicySchema() },
        },
      ],
    },
  };
}
