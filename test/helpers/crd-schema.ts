import { Ajv } from 'ajv';

type Schema = Record<string, unknown>;

/**
 * A structural schema as ajv's JSON Schema, checked as the API server checks a custom resource
 * with strict field validation (`kubectl`'s default): an unknown field is refused except where
 * `x-kubernetes-preserve-unknown-fields` keeps it; int-or-string is its anyOf; OpenAPI 3.0's
 * boolean `exclusiveMinimum` becomes JSON Schema's number. CEL rules (x-kubernetes-validations)
 * are not evaluated here.
 */
function toAjv(node: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toAjv(v)]));
    else if (key === 'items' || key === 'additionalProperties') out[key] = toAjv(value as Schema);
    else if (key === 'anyOf') out.anyOf = (value as Schema[]).map(toAjv);
    else if (key === 'exclusiveMinimum' && value === true) out.exclusiveMinimum = node.minimum;
    else if (key === 'minimum' && node.exclusiveMinimum === true) continue;
    else out[key] = value;
  }
  if (node.properties && node['x-kubernetes-preserve-unknown-fields'] !== true && node.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** "/spec/rules/0/faults" as "spec.rules[0].faults". */
const pathOf = (pointer: string) => pointer.split('/').filter(Boolean).map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/** A validator for objects of a CRD's openAPIV3Schema: their problems, one line each (none: valid). */
export function crdValidator(openAPIV3Schema: Schema): (object: Record<string, unknown>) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  ajv.addFormat('date-time', (v: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
  ajv.addFormat('int64', true);
  const validate = ajv.compile(toAjv(openAPIV3Schema));
  return (object) => {
    if (validate(object)) return [];
    return (validate.errors ?? []).map((e) => {
      const extra = e.keyword === 'additionalProperties' ? `: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"` : e.keyword === 'enum' ? `: ${e.message} ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}` : `: ${e.message}`;
      return `${pathOf(e.instancePath) || '(root)'}${extra}`;
    });
  };
}

/** The structural schema's `default`s, applied where a field is missing (the API server defaults objects so). */
export function crdDefaulter(openAPIV3Schema: Schema): (object: Record<string, unknown>) => void {
  const apply = (schema: Schema, value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return void (schema.items && value.forEach((v) => apply(schema.items as Schema, v)));
    for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
      const object = value as Record<string, unknown>;
      if (object[key] === undefined && sub.default !== undefined) object[key] = structuredClone(sub.default);
      apply(sub, object[key]);
    }
  };
  return (object) => apply(openAPIV3Schema, object);
}
