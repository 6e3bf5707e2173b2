import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FaultType, StreamDirection } from '../faults/index.js';
import { loadPolicy, type LoadOptions, type ValidatedFault, type ValidatedPolicy } from './load.js';
import { compileDnsMatch, compileMatch, compileRequestMatch, isRequestMatch, type DnsMatcher, type Matcher, type RequestMatcher } from './match.js';
import { API_VERSION, KIND, type ListenerSpec, type PolicyDocument } from './schema.js';

/** One fault of one rule, ready to apply. `key` changes whenever anything about it changes. */
export interface CompiledFault {
  readonly key: string;
  readonly rule: string;
  readonly type: FaultType<any>;
  readonly options: object;
  readonly probability: number;
  readonly streams: readonly StreamDirection[];
  readonly after: number;
  readonly for: number | undefined;
  readonly firstConnections: number | undefined;
  /** The rule's `expiresAt` (epoch ms): the fault ends then on live connections too. */
  readonly ruleExpiresAt: number | undefined;
}

export interface CompiledRule {
  readonly name: string;
  readonly scope: 'live' | 'new-connections';
  readonly match: Matcher;
  readonly faults: readonly CompiledFault[];
  /** Set on L7 rules (protocol http/grpc/ws, an http or grpc match): the request part. */
  readonly request: RequestMatcher | undefined;
  /** The match without `sni`: whether the rule could apply once the connection is inspected. */
  readonly l4Match: Matcher;
  /** The rule matches on the TLS ClientHello: its server name (`sni`) or `protocol: tls`. */
  readonly sni: boolean;
  /** `tls: terminate`: TLS connections the rule matches are decrypted (src/tls/). */
  readonly terminate: boolean;
  /** Envoy's x-envoy-fault-* request headers may steer this rule's L7 faults. */
  readonly allowHeaderOverrides: boolean;
  /** An L7 rule that has plain-pipe HTTP connections opened before it reconnect (graceful). */
  readonly reconnectPooled: boolean;
  /** Epoch ms after which this rule no longer applies. */
  readonly expiresAt: number | undefined;
  /** Set on DNS rules (`match.dns`): the questions their faults act on, per query. */
  readonly dns?: DnsMatcher | undefined;
}

/**
 * A policy compiled once, immutable, shared by every connection. A reload builds a new one and
 * swaps it whole; connections hold no reference to rules beyond their own pinned ones.
 */
export interface CompiledPolicy {
  readonly name: string;
  /** First 16 hex digits of the SHA-256 of the source text. */
  readonly hash: string;
  readonly source: string;
  readonly loadedAt: Date;
  readonly enabled: boolean;
  /** Epoch ms after which no fault applies. */
  readonly expiresAt: number | undefined;
  readonly listeners: readonly ListenerSpec[];
  readonly rules: readonly CompiledRule[];
  readonly document: PolicyDocument;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Validates and compiles policy text; throws PolicyError with every problem. */
export function compilePolicy(text: string, source: string, options?: LoadOptions): CompiledPolicy {
  return compileValidated(loadPolicy(text, source, options), text, source);
}

/** Compiles a validated policy (`text` is what it was validated from). */
export function compileValidated(validated: ValidatedPolicy, text: string, source: string): CompiledPolicy {
  const steps = compileSteps(validated, text, source);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * compileValidated in slices of about `sliceMs` of the event loop each: a policy of thousands of
 * rules compiles without holding the connections the sidecar relays.
 */
export async function compileValidatedInSlices(validated: ValidatedPolicy, text: string, source: string, sliceMs = 4): Promise<CompiledPolicy> {
  const steps = compileSteps(validated, text, source);
  let until = performance.now() + sliceMs;
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() < until) continue;
    await new Promise((resolve) => setImmediate(resolve));
    until = performance.now() + sliceMs;
  }
}

/** The compilation, one rule per step. */
function* compileSteps({ doc, faults }: ValidatedPolicy, text: string, source: string): Generator<void, CompiledPolicy> {
  const rules: CompiledRule[] = [];
  for (const [r, rule] of doc.spec.rules.entries()) {
    rules.push(compileRule(rule, faults[r] ?? []));
    yield;
  }
  return Object.freeze({
    name: doc.metadata.name,
    hash: digest(text),
    source,
    loadedAt: new Date(),
    enabled: doc.spec.enabled,
    expiresAt: doc.spec.expiresAt === undefined ? undefined : Date.parse(doc.spec.expiresAt),
    listeners: Object.freeze(doc.spec.listeners.map((l) => Object.freeze({ ...l }))),
    rules: Object.freeze(rules),
    document: doc,
  });
}

function compileRule(rule: PolicyDocument['spec']['rules'][number], faults: readonly ValidatedFault[]): CompiledRule {
  const compiled = faults.map((fault, f): CompiledFault => {
    const stream = fault.common.stream ?? fault.type.defaultStream;
    const streams: StreamDirection[] = stream === null ? [] : stream === 'both' ? ['upstream', 'downstream'] : [stream];
    return Object.freeze({
      key: `${rule.name}/${f}/${fault.type.type}#${digest(JSON.stringify([rule.match, rule.scope, fault.common, fault.options]))}`,
      rule: rule.name,
      type: fault.type,
      options: Object.freeze(fault.options),
      probability: fault.common.probability,
      streams: Object.freeze(streams),
      after: fault.common.after,
      for: fault.common.for,
      firstConnections: fault.common.firstConnections,
      ruleExpiresAt: rule.expiresAt === undefined ? undefined : Date.parse(rule.expiresAt),
    });
  });
  // What can be matched before the first bytes are read: no server name, not yet known to be TLS.
  const { sni, dns, protocol, ...rest } = rule.match;
  const l4 = protocol === 'tls' ? rest : { ...rest, protocol };
  return Object.freeze({
    name: rule.name,
    scope: rule.scope,
    match: compileMatch(rule.match),
    faults: Object.freeze(compiled),
    request: isRequestMatch(rule.match) ? compileRequestMatch(rule.match) : undefined,
    l4Match: compileMatch(l4),
    sni: sni !== undefined || protocol === 'tls',
    terminate: rule.tls === 'terminate',
    allowHeaderOverrides: rule.allowHeaderOverrides === true,
    reconnectPooled: rule.scope === 'live' && rule.pooledConnections !== 'leave',
    expiresAt: rule.expiresAt === undefined ? undefined : Date.parse(rule.expiresAt),
    dns: dns === undefined ? undefined : compileDnsMatch(dns),
  });
}

/** Reads and compiles a policy file. */
export function readPolicyFile(file: string): CompiledPolicy {
  return compilePolicy(readFileSync(file, 'utf8'), file);
}

/** The text of the policy in force before any file was loaded: nothing to listen on, no fault. */
export const EMPTY_POLICY_TEXT = `apiVersion: ${API_VERSION}\nkind: ${KIND}\nmetadata: {name: none}\nspec: {}\n`;

/** The policy in force before any file was loaded: nothing to listen on, no fault. */
export function emptyPolicy(): CompiledPolicy {
  return compilePolicy(EMPTY_POLICY_TEXT, '(none)');
}
