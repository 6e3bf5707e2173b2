import type { DnsEffect, DnsQuestion, ExchangeContext, FaultEnvironment, FaultRuntime, FaultType, SharedState, StreamDirection } from '../faults/types.js';
import { logger } from '../log.js';
import { Metrics } from '../metrics.js';
import type { CompiledFault, CompiledPolicy, CompiledRule } from '../policy/compile.js';
import { emptyPolicy } from '../policy/compile.js';
import type { ConnectionMeta, RequestMeta } from '../policy/match.js';

/** What the engine remembers about one connection. Lives with the connection. */
export interface ConnectionFaultState {
  readonly meta: ConnectionMeta;
  /** Epoch ms; `after`/`for` count from here. */
  readonly startedAt: number;
  /** Per fault key: whether the connection drew this fault (probability, firstConnections); made at the first draw. */
  decisions: Map<string, boolean> | undefined;
  /** `scope: new-connections` rules that matched when the connection opened. */
  pinned: readonly CompiledRule[];
}

export interface FaultPlan {
  /** Faults applying now, in rule then fault order. */
  active: readonly CompiledFault[];
  /** Epoch ms of the next time the plan may change by itself (a time bound, expiry). */
  nextChangeAt: number | undefined;
}

export interface Admission {
  refused?: { fault: CompiledFault; reason: string } | undefined;
}

/** An L7 fault drawn for one request or message: its options (Envoy headers may change them) and context. */
export interface RequestDecision {
  fault: CompiledFault;
  options: object;
  ctx: ExchangeContext;
}

/** A DNS fault drawn for one query, and what it does. */
export interface DnsDecision {
  fault: CompiledFault;
  effect: DnsEffect;
}

/** What a new connection must be looked at for before it becomes a plain pipe. */
export interface Inspection {
  /** An L7 rule could apply: classify the first bytes (HTTP/1, h2c) and frame requests. */
  requests: boolean;
  /** An SNI rule could apply: read the TLS ClientHello's server name. */
  sni: boolean;
  /** An L7 rule that wants them reached could apply: plain-pipe HTTP connections should reconnect. */
  reconnect: boolean;
  /**
   * A rule with TLS handshake faults could apply: the upstream is dialled only once the
   * ClientHello was read and no handshake fault refused it, so that a rejected handshake never
   * reaches the upstream at all.
   */
  handshake: boolean;
  /** A `tls: terminate` rule could apply: an unreachable upstream is answered over TLS, not reset. */
  terminate: boolean;
}

// What a connection gets when no rule could apply to it: shared, so a plain connection allocates none.
const NO_RULES: readonly CompiledRule[] = Object.freeze([]);
const NO_FAULTS: readonly CompiledFault[] = Object.freeze([]);
const ADMITTED: Admission = Object.freeze({});
const NOT_INSPECTED: Inspection = Object.freeze({ requests: false, sni: false, reconnect: false, handshake: false, terminate: false });

/**
 * Decides which faults apply to which connection, once and centrally: matching, probability,
 * `firstConnections`, time bounds, `enabled`, `expiresAt` and the kill switch. Faults never
 * decide any of this themselves. The policy is swapped whole by `setPolicy`.
 */
export class FaultEngine {
  private current: CompiledPolicy = emptyPolicy();
  private readonly shared = new Map<string, SharedState>();
  private readonly drawn = new Map<string, number>();
  /** Per fault key, when it was loaded: DNS faults' `after`/`for` count from here (a query has no connection). */
  private readonly loadedAt = new Map<string, number>();
  /** Per fault type with a `runtime` hook: its sidecar-wide runtime, made on first use. */
  private readonly runtimes = new Map<FaultType<any>, FaultRuntime>();
  /** Every fault off, whatever the policy says, until cleared (admin API). */
  killSwitch = false;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
    /** What fault runtimes are made with; without it they record no metrics. */
    private readonly env: FaultEnvironment = { metrics: new Metrics({ enabled: false }), log: logger },
  ) {}

  /** The runtime of a fault type that has one (made now if it was not yet), else undefined. */
  runtimeOf<R>(type: FaultType<any, R>): R | undefined {
    if (!type.runtime) return undefined;
    let runtime = this.runtimes.get(type);
    if (!runtime) {
      runtime = type.runtime(this.env);
      this.runtimes.set(type, runtime);
      runtime.policyChanged?.(this.keysOf(type));
    }
    return runtime as R;
  }

  /** The sidecar stops: every fault runtime releases its sockets and timers. */
  async close(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => r.close?.()));
  }

  private keysOf(type: FaultType<any>): Set<string> {
    return new Set(this.current.rules.flatMap((r) => r.faults.filter((f) => f.type === type).map((f) => f.key)));
  }

  get policy(): CompiledPolicy {
    return this.current;
  }

  setPolicy(policy: CompiledPolicy): void {
    this.current = policy;
    // Counters and buckets belong to a fault's key: an edited fault starts afresh.
    const keys = new Set(policy.rules.flatMap((r) => r.faults.map((f) => f.key)));
    for (const map of [this.shared, this.drawn, this.loadedAt]) for (const key of map.keys()) if (!keys.has(key)) map.delete(key);
    for (const key of keys) if (!this.loadedAt.has(key)) this.loadedAt.set(key, this.clock());
    for (const [type, runtime] of this.runtimes) runtime.policyChanged?.(this.keysOf(type));
    void this.env.metrics.retainRules(new Set(policy.rules.map((r) => r.name)));
  }

  /** Whether faults may apply at all right now. */
  faultsEnabled(now = this.clock()): boolean {
    const p = this.current;
    return p.enabled && !this.killSwitch && (p.expiresAt === undefined || now < p.expiresAt);
  }

  /** Creates a connection's state and pins its `new-connections` rules. */
  open(meta: ConnectionMeta): ConnectionFaultState {
    const now = this.clock();
    const { rules } = this.current;
    const pinned = rules.length === 0 ? NO_RULES : rules.filter((r) => r.scope === 'new-connections' && unexpired(r, now) && r.match(meta));
    // Most connections pin nothing: they keep no array of their own.
    return { meta, startedAt: now, decisions: undefined, pinned: pinned.length === 0 ? NO_RULES : pinned };
  }

  /**
   * Whether an L7 or SNI rule could apply to a new connection (its L4 part matches). When
   * neither could, the connection is never inspected: a plain pipe from its first byte.
   */
  inspection(meta: ConnectionMeta): Inspection {
    if (this.current.rules.length === 0) return NOT_INSPECTED;
    let requests = false;
    let sni = false;
    let reconnect = false;
    let handshake = false;
    let terminate = false;
    const now = this.clock();
    for (const rule of this.current.rules) {
      if ((!rule.request && !rule.sni && !rule.terminate) || !unexpired(rule, now)) continue;
      if (!rule.l4Match(meta)) continue;
      if (rule.request) (requests = true), (reconnect ||= rule.reconnectPooled);
      else sni = true;
      handshake ||= rule.faults.some((f) => f.type.handshake !== undefined);
      terminate ||= rule.terminate;
    }
    return { requests, sni, reconnect, handshake, terminate };
  }

  /**
   * The L7 faults (http layer, and rate_limit of L7 rules) that apply to one request: rules are
   * matched on the connection and the request, probability is drawn per request, `after`/`for`
   * count from the connection's start, `firstConnections` counts requests.
   */
  evaluateRequest(state: ConnectionFaultState, request: RequestMeta): RequestDecision[] {
    const now = this.clock();
    if (!this.faultsEnabled(now)) return [];
    const decisions: RequestDecision[] = [];
    for (const rule of this.requestRules(state, now)) {
      if (!rule.request?.(request)) continue;
      for (const fault of rule.faults) {
        if (!fault.type.exchange || fault.type.layer === 'ws' || !this.inBounds(state, fault, now)) continue;
        const override = rule.allowHeaderOverrides ? fault.type.headerOverride?.(fault.options, request.headers, fault.probability) : undefined;
        if (!(this.random() < (override?.probability ?? fault.probability)) || !this.quota(fault)) continue;
        const ctx = { shared: this.sharedFor(fault), now, random: this.random, request, runtime: this.runtimeOf(fault.type), fault };
        decisions.push({ fault, options: override?.options ?? fault.options, ctx });
      }
    }
    return decisions;
  }

  /** The ws faults of the rules a WebSocket handshake request matches; drawn per message by `drawMessage`. */
  messageFaults(state: ConnectionFaultState, request: RequestMeta): CompiledFault[] {
    const faults: CompiledFault[] = [];
    for (const rule of this.requestRules(state, this.clock())) {
      if (rule.request?.(request)) faults.push(...rule.faults.filter((f) => f.type.layer === 'ws'));
    }
    return faults;
  }

  /** Draws a ws fault for one message going `direction`: enabled, time bounds, stream, probability per message. */
  drawMessage(state: ConnectionFaultState, fault: CompiledFault, direction: StreamDirection): RequestDecision | undefined {
    const now = this.clock();
    if (!this.faultsEnabled(now) || !fault.streams.includes(direction) || !this.inBounds(state, fault, now)) return undefined;
    if (!(this.random() < fault.probability) || !this.quota(fault)) return undefined;
    return { fault, options: fault.options, ctx: { shared: this.sharedFor(fault), now, random: this.random } };
  }

  /**
   * The connection's TLS ClientHello was read (its server name, if it sent one): `sni` and
   * `protocol: tls` rules may now match. Their
   * `new-connections` rules are pinned, and their admission faults checked (the others were).
   */
  learnSni(state: ConnectionFaultState, name: string | undefined): Admission {
    state.meta.sni = name;
    state.meta.tls = true;
    const pinned = this.current.rules.filter((r) => r.sni && r.scope === 'new-connections' && unexpired(r, this.clock()) && r.match(state.meta));
    state.pinned = [...state.pinned, ...pinned];
    return this.admit(state, true);
  }

  /**
   * The TLS connection's server name (or its lack) is known: whether a `tls: terminate` rule
   * matches it, so that faultline decrypts it. Never while faults are off (kill switch,
   * `enabled: false`, expiry): then every TLS connection passes as it is.
   */
  terminates(state: ConnectionFaultState): boolean {
    const now = this.clock();
    if (!this.faultsEnabled(now)) return false;
    const live = this.current.rules.some((r) => r.terminate && r.scope === 'live' && unexpired(r, now) && r.match(state.meta));
    return live || state.pinned.some((r) => r.terminate && unexpired(r, now));
  }

  /** The TLS handshake faults that apply to the connection now (drawn once per connection, like every connection fault). */
  handshakeFaults(state: ConnectionFaultState): CompiledFault[] {
    return this.plan(state).active.filter((f) => f.type.handshake !== undefined);
  }

  /** Admission faults (refuse, rate_limit, partition reject) for a connection about to open. */
  admit(state: ConnectionFaultState, sniOnly = false): Admission {
    if (this.current.rules.length === 0 && state.pinned.length === 0) return ADMITTED;
    const now = this.clock();
    if (!this.faultsEnabled(now)) return ADMITTED;
    for (const fault of this.candidates(state, now, sniOnly)) {
      if (!fault.type.admit || fault.after > 0 || !this.drew(state, fault)) continue;
      const reason = fault.type.admit(fault.options, this.sharedFor(fault), now);
      if (reason !== undefined) return { refused: { fault, reason } };
    }
    return ADMITTED;
  }

  /** The faults that apply to a connection now, and when that may next change. */
  plan(state: ConnectionFaultState): FaultPlan {
    const now = this.clock();
    const expiresAt = this.current.expiresAt;
    let nextChangeAt = expiresAt !== undefined && now < expiresAt ? expiresAt : undefined;
    if (!this.faultsEnabled(now) || (this.current.rules.length === 0 && state.pinned.length === 0)) return { active: NO_FAULTS, nextChangeAt };
    let active: CompiledFault[] | undefined;
    for (const fault of this.candidates(state, now)) {
      if (!fault.type.stage && !fault.type.activate && !fault.type.datagram && !fault.type.handshake) continue;
      if (!this.drew(state, fault)) continue;
      const start = state.startedAt + fault.after;
      const end = Math.min(fault.for === undefined ? Infinity : start + fault.for, fault.ruleExpiresAt ?? Infinity);
      for (const at of [start, end]) if (at > now && (nextChangeAt === undefined || at < nextChangeAt)) nextChangeAt = at;
      if (now >= start && now < end) (active ??= []).push(fault);
    }
    return { active: active ?? NO_FAULTS, nextChangeAt };
  }

  /**
   * The DNS faults that apply to one query: DNS rules (`match.dns`) whose L4 part matches the
   * query's peers and whose DNS part matches its question; probability drawn per query,
   * `firstConnections` counts queries, `after`/`for` count from when the fault was loaded.
   */
  evaluateDns(meta: ConnectionMeta, question: DnsQuestion): DnsDecision[] {
    const now = this.clock();
    if (!this.faultsEnabled(now)) return [];
    const decisions: DnsDecision[] = [];
    for (const rule of this.current.rules) {
      if (!rule.dns || !unexpired(rule, now) || !rule.match(meta) || !rule.dns(question)) continue;
      for (const fault of rule.faults) {
        const start = (this.loadedAt.get(fault.key) ?? now) + fault.after;
        if (!fault.type.dns || now < start || (fault.for !== undefined && now >= start + fault.for)) continue;
        if (!(this.random() < fault.probability) || !this.quota(fault)) continue;
        const effect = fault.type.dns(fault.options, question, this.random);
        if (effect) decisions.push({ fault, effect });
      }
    }
    return decisions;
  }

  /** Connection-level faults: those of L4 rules (L7 rules act per request) that have not expired. */
  private *candidates(state: ConnectionFaultState, now: number, sniOnly = false): Iterable<CompiledFault> {
    for (const rule of this.current.rules) {
      if (!rule.request && (!sniOnly || rule.sni) && rule.scope === 'live' && unexpired(rule, now) && rule.match(state.meta)) yield* rule.faults;
    }
    for (const rule of state.pinned) if (!rule.request && (!sniOnly || rule.sni) && unexpired(rule, now)) yield* rule.faults;
  }

  private *requestRules(state: ConnectionFaultState, now: number): Iterable<CompiledRule> {
    for (const rule of this.current.rules) {
      if (rule.request && rule.scope === 'live' && unexpired(rule, now) && rule.match(state.meta)) yield rule;
    }
    for (const rule of state.pinned) if (rule.request && unexpired(rule, now)) yield rule;
  }

  private inBounds(state: ConnectionFaultState, fault: CompiledFault, now: number): boolean {
    const start = state.startedAt + fault.after;
    return now >= start && (fault.for === undefined || now < start + fault.for);
  }

  /** The firstConnections quota, counted per request or message for L7 faults. */
  private quota(fault: CompiledFault): boolean {
    if (fault.firstConnections === undefined) return true;
    const count = this.drawn.get(fault.key) ?? 0;
    if (count >= fault.firstConnections) return false;
    this.drawn.set(fault.key, count + 1);
    return true;
  }

  private sharedFor(fault: CompiledFault): SharedState {
    let shared = this.shared.get(fault.key);
    if (!shared) this.shared.set(fault.key, (shared = {}));
    return shared;
  }

  /** Draws once per connection and fault: probability, then the firstConnections quota. */
  private drew(state: ConnectionFaultState, fault: CompiledFault): boolean {
    state.decisions ??= new Map();
    let drawn = state.decisions.get(fault.key);
    if (drawn === undefined) {
      drawn = fault.type.probabilityPer === 'chunk' || this.random() < fault.probability;
      if (drawn && fault.firstConnections !== undefined) {
        const count = this.drawn.get(fault.key) ?? 0;
        drawn = count < fault.firstConnections;
        if (drawn) this.drawn.set(fault.key, count + 1);
      }
      state.decisions.set(fault.key, drawn);
    }
    return drawn;
  }
}

/** A rule without `expiresAt`, or whose `expiresAt` is still ahead. */
function unexpired(rule: CompiledRule, now: number): boolean {
  return rule.expiresAt === undefined || now < rule.expiresAt;
}
