import { policyLimitProblem } from './limits.js';
import { isIP } from 'node:net';
import { PolicyError } from '../errors.js';
import { faultRegistry, type FaultType } from '../faults/index.js';
import { parseHostPort } from '../net/address.js';
import { expandScenarios } from '../scenarios/expand.js';
import { checkPacketLayers, type PacketLayerOptions } from './packet-layers.js';
import { parseRequired, reportZod, type Path, type Report } from './positions.js';
import type { z } from 'zod';
import { COMMON_FAULT_KEYS, commonFaultSchema, policySchema, policySpecSchema, type CommonFaultFields, type PolicyDocument } from './schema.js';
import { checkTlsRule, type TlsRuleOptions } from './tls-rules.js';
import { CONNECTION_PROTOCOLS } from './match.js';

/** A fault entry after validation: the common fields and the type's own options, apart. */
export interface ValidatedFault {
  /** The entry as written (after scenario expansion). */
  entry: unknown;
  type: FaultType<any>;
  common: CommonFaultFields;
  options: object;
}

export interface ValidatedPolicy {
  doc: PolicyDocument;
  /** faults[r][f] belongs to doc.spec.rules[r].faults[f]. */
  faults: ValidatedFault[][];
}

export interface LoadOptions extends PacketLayerOptions, TlsRuleOptions {
  /** Listener names defined elsewhere (the runtime layer) that rules may refer to. */
  knownListeners?: readonly string[];
  /** More `spec` fields this document may have (a FaultPolicy resource's selector, mode, value). */
  specExtension?: z.ZodRawShape;
}

/**
 * Parses and validates a policy. Throws a PolicyError listing every problem found, each with
 * the line and column of the offending field, in file order. Rules with a `scenario:` are
 * expanded first (src/scenarios/); problems in what they expand to point at what the user wrote.
 */
export function loadPolicy(text: string, file: string, options: LoadOptions = {}): ValidatedPolicy {
  const limit = policyLimitProblem(text);
  if (limit) throw new PolicyError(file, [limit]);
  const positioned = parseRequired(text, 'the policy is empty: expected apiVersion, kind, metadata and spec', (problems) => new PolicyError(file, problems));
  const fail = (): never => {
    throw new PolicyError(file, positioned.sorted());
  };
  const expansion = expandScenarios(positioned.raw, positioned.report, options);
  const raw = expansion.doc;
  const at: Report = (path, message, key, code) => {
    const mapped = expansion.remap(path);
    if (mapped) positioned.report(mapped, message, key, code);
  };

  const schema = options.specExtension ? policySchema.extend({ spec: policySpecSchema.extend(options.specExtension) }) : policySchema;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) reportZod(parsed.error, [], raw, at);

  const faults: ValidatedFault[][] = [];
  const rules = (raw as { spec?: { rules?: unknown } }).spec?.rules;
  if (Array.isArray(rules)) {
    rules.forEach((rule: { faults?: unknown }, r) => {
      const list: ValidatedFault[] = [];
      faults.push(list);
      if (!rule || !Array.isArray(rule.faults)) return;
      rule.faults.forEach((entry: unknown, f) => {
        const validated = validateFault(entry, ['spec', 'rules', r, 'faults', f], at);
        if (validated) list.push(validated);
      });
    });
  }
  checkReferences(raw as Loose, at, options.knownListeners ?? [], options, faults);
  if (positioned.problems.length > 0 || !parsed.success) fail();
  return { doc: (parsed as { data: PolicyDocument }).data, faults };
}

function validateFault(entry: unknown, path: Path, at: Report): ValidatedFault | undefined {
  if (!entry || typeof entry !== 'object' || typeof (entry as { type?: unknown }).type !== 'string') return undefined;
  const typeName = (entry as { type: string }).type;
  const type = faultRegistry.get(typeName);
  if (!type) {
    at([...path, 'type'], `"${typeName}" is not a fault type (known: ${[...faultRegistry.keys()].join(', ')})`);
    return undefined;
  }
  const commonPart: Record<string, unknown> = {};
  const optionPart: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entry)) {
    // A per-chunk probability (loss) belongs to the fault itself, not to the engine's draw.
    const own = key === 'probability' && type.probabilityPer === 'chunk';
    (COMMON_FAULT_KEYS.has(key) && !own ? commonPart : optionPart)[key] = value;
  }

  const common = commonFaultSchema.safeParse(commonPart);
  const options = type.options.safeParse(optionPart);
  if (!common.success) reportZod(common.error, path, commonPart, at);
  if (!options.success) reportZod(options.error, path, optionPart, at);
  if (!common.success || !options.success) return undefined;

  const c = common.data;
  if (type.defaultStream === null && c.stream !== undefined) at([...path, 'stream'], `does not apply to ${typeName} faults`);
  if (!type.timeBounds && (c.after > 0 || c.for !== undefined)) {
    const why = type.kernel ? 'acts in the kernel on every packet of its rule' : 'acts when a connection opens';
    at([...path, c.for !== undefined ? 'for' : 'after'], `${typeName} ${why}, so after/for do not apply`);
  }
  if (type.kernel && c.firstConnections !== undefined) at([...path, 'firstConnections'], `${typeName} acts in the kernel on every packet of its rule, so firstConnections does not apply`);
  return { entry, type, common: c, options: options.data as object };
}

/** The document before (or despite) schema validation: cross-field checks run on it too. */
interface Loose {
  spec?: {
    listeners?: { name?: unknown; listen?: unknown; upstream?: unknown; protocol?: unknown; idleTimeout?: unknown }[];
    rules?: { name?: unknown; match?: Record<string, unknown>; faults?: unknown; allowHeaderOverrides?: unknown; tls?: unknown }[];
  };
}

function checkReferences(doc: Loose, at: Report, knownListeners: readonly string[], options: PacketLayerOptions & TlsRuleOptions, validated: ValidatedFault[][]): void {
  const rules = Array.isArray(doc?.spec?.rules) ? doc.spec.rules : [];
  const listeners = Array.isArray(doc?.spec?.listeners) ? doc.spec.listeners : [];
  const seen = new Map<unknown, number>();
  rules.forEach((rule, i) => {
    if (!rule || typeof rule !== 'object') return;
    if (typeof rule.name === 'string' && seen.has(rule.name)) at(['spec', 'rules', i, 'name'], `duplicate rule name "${rule.name}" (also rule ${seen.get(rule.name)})`);
    seen.set(rule.name, i);
    const match = rule.match && typeof rule.match === 'object' ? rule.match : {};
    const listener = match.listener;
    if (typeof listener === 'string' && !listeners.some((l) => l?.name === listener) && !knownListeners.includes(listener)) {
      at(['spec', 'rules', i, 'match', 'listener'], `no listener named "${listener}" in spec.listeners`);
    }
    checkLayers(rule, match, ['spec', 'rules', i], at);
    checkTlsRule(rule, match, faultTypes(rule.faults, validated[i]), ['spec', 'rules', i], at, options);
    const protocol = listeners.find((l) => l?.name === listener)?.protocol;
    checkPacketLayers(rule, match, typeof listener === 'string' && listeners.some((l) => l?.name === listener) ? String(protocol ?? 'tcp') : undefined, ['spec', 'rules', i], at, options);
  });
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  listeners.forEach((listener, i) => {
    if (!listener || typeof listener.name !== 'string' || typeof listener.listen !== 'string') return;
    if (names.has(listener.name)) at(['spec', 'listeners', i, 'name'], `duplicate listener name "${listener.name}"`);
    names.set(listener.name, i);
    if (addresses.has(listener.listen) && !listener.listen.endsWith(':0')) {
      at(['spec', 'listeners', i, 'listen'], `${listener.listen} is already used by listener ${addresses.get(listener.listen)}`, undefined, 'FL_ERR_LISTEN');
    }
    addresses.set(listener.listen, i);
    if (listener.idleTimeout !== undefined && listener.protocol !== 'udp') at(['spec', 'listeners', i, 'idleTimeout'], 'idleTimeout applies to protocol: udp listeners');
    const upstream = typeof listener.upstream === 'string' ? parseHostPort(listener.upstream) : undefined;
    if (listener.protocol === 'dns' && upstream && isIP(upstream.host) === 0) at(['spec', 'listeners', i, 'upstream'], "a DNS listener forwards to a resolver's IP:PORT (a name would need a resolver to find it)");
  });
}

/** A rule's fault entries with their types, and their validated options where they validated. */
function faultTypes(entries: unknown, validated: ValidatedFault[] = []): { f: number; type: FaultType<any>; options: object | undefined }[] {
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown, f) => {
    const name = (entry as { type?: unknown } | null)?.type;
    const type = typeof name === 'string' ? faultRegistry.get(name) : undefined;
    return type ? [{ f, type, options: validated.find((v) => v.entry === entry)?.options }] : [];
  });
}

const GRPC_METHOD = /^\/[A-Za-z0-9_.*?]+\/[A-Za-z0-9_*?]+$|^\*$/;
const SNI = /^[A-Za-z0-9*?][A-Za-z0-9.*?-]*$/;

/**
 * L7 faults go in rules with an L7 match (protocol http/grpc/ws, http, grpc) and connection
 * faults in rules without one (rate_limit goes in both: per request in L7 rules); ws faults need
 * `protocol: ws`; `sni` and `protocol: ws|tcp` do not mix with request matches they cannot see.
 */
function checkLayers(rule: { faults?: unknown; allowHeaderOverrides?: unknown; tls?: unknown }, match: Record<string, unknown>, path: Path, at: Report): void {
  const protocol = match.protocol;
  const l7 = (typeof protocol === 'string' && !CONNECTION_PROTOCOLS.includes(protocol)) || match.http !== undefined || match.grpc !== undefined;
  if (protocol === 'tcp' && (match.http !== undefined || match.grpc !== undefined)) {
    at([...path, 'match', 'protocol'], 'tcp rules see no requests: drop protocol: tcp to match http or grpc requests');
  }
  if (protocol === 'http' && match.grpc !== undefined) at([...path, 'match', 'grpc'], 'a grpc match needs protocol: grpc (or no protocol)');
  if (l7 && match.sni !== undefined && rule.tls !== 'terminate') {
    at([...path, 'match', 'sni'], 'sni matches TLS connections, whose requests are not decrypted: add tls: terminate to see them, or put sni and L7 matches in separate rules');
  }
  if (typeof match.sni === 'string' && !SNI.test(match.sni)) at([...path, 'match', 'sni'], 'expected a server name or a glob such as "*.example.com"');
  const grpc = match.grpc as { methods?: unknown } | undefined;
  if (grpc && Array.isArray(grpc.methods)) {
    grpc.methods.forEach((m, j) => {
      if (typeof m === 'string' && !GRPC_METHOD.test(m)) at([...path, 'match', 'grpc', 'methods', j], `"${m}" is not a gRPC method: write "/package.Service/Method" (globs allowed)`);
    });
  }
  if (rule.allowHeaderOverrides === true && !l7) at([...path, 'allowHeaderOverrides'], 'Envoy fault headers are read from requests: the rule needs an L7 match (protocol http or grpc)');
  if (!Array.isArray(rule.faults)) return;
  rule.faults.forEach((entry: unknown, f) => {
    const typeName = (entry as { type?: unknown } | null)?.type;
    const type = typeof typeName === 'string' ? faultRegistry.get(typeName) : undefined;
    if (!type) return;
    const where = [...path, 'faults', f, 'type'];
    if (type.layer && !l7) {
      at(where, `${type.type} acts on requests: the rule needs an L7 match (match.protocol: ${type.layer === 'ws' ? 'ws' : 'http or grpc'}, or match.http / match.grpc)`);
    } else if (type.layer === 'ws' && protocol !== 'ws') {
      at(where, `${type.type} acts on WebSocket messages: the rule needs match.protocol: ws`);
    } else if (l7 && !type.layer && !type.exchange && !type.dns && !type.kernel) {
      at(where, `${type.type} is a connection fault: put it in a rule without protocol/http/grpc (L7 rules take http_*, ws_* and rate_limit)`);
    }
  });
}

/** Line and column of a field in policy text, for errors found after validation (bind failures). */
export { locateField } from './positions.js';
