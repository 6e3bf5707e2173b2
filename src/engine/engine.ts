import type { SharedState } from '../faults/types.js';
import type { CompiledFault, CompiledPolicy, CompiledRule } from '../policy/compile.js';
import { emptyPolicy } from '../policy/compile.js';
import type { ConnectionMeta } from '../policy/match.js';

/** What the engine remembers about one connection. Lives with the connection. */
export interface ConnectionFaultState {
  readonly meta: ConnectionMeta;
  /** Epoch ms; `after`/`for` count from here. */
  readonly startedAt: number;
  /** Per fault key: whether the connection drew this fault (probability, firstConnections). */
  readonly decisions: Map<string, boolean>;
  /** `scope: new-connections` rules that matched when the connection opened. */
  pinned: readonly CompiledRule[];
}

export interface FaultPlan {
  /** Faults applying now, in rule then fault order. */
  active: CompiledFault[];
  /** Epoch ms of the next time the plan may change by itself (a time bound, expiry). */
  nextChangeAt: number | undefined;
}

export interface Admission {
  refused?: { fault: CompiledFault; reason: string } | undefined;
}

/**
 * Decides which faults apply to which connection, once and centrally: matching, probability,
 * `firstConnections`, time bounds, `enabled`, `expiresAt` and the kill switch. Faults never
 * decide any of this themselves. The policy is swapped whole by `setPolicy`.
 */
export class FaultEngine {
  private current: CompiledPolicy = emptyPolicy();
  private readonly shared = new Map<string, SharedState>();
  private readonly drawn = new Map<string, number>();
  /** Every fault off, whatever the policy says, until cleared (admin API). */
  killSwitch = false;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  get policy(): CompiledPolicy {
    return this.current;
  }

  setPolicy(policy: CompiledPolicy): void {
    this.current = policy;
    // Counters and buckets belong to a fault's key: an edited fault starts afresh.
    const keys = new Set(policy.rules.flatMap((r) => r.faults.map((f) => f.key)));
    for (const map of [this.shared, this.drawn]) for (const key of map.keys()) if (!keys.has(key)) map.delete(key);
  }

  /** Whether faults may apply at all right now. */
  faultsEnabled(now = this.clock()): boolean {
    const p = this.current;
    return p.enabled && !this.killSwitch && (p.expiresAt === undefined || now < p.expiresAt);
  }

  /** Creates a connection's state and pins its `new-connections` rules. */
  open(meta: ConnectionMeta): ConnectionFaultState {
    return {
      meta,
      startedAt: this.clock(),
      decisions: new Map(),
      pinned: this.current.rules.filter((r) => r.scope === 'new-connections' && r.match(meta)),
    };
  }

  /** Admission faults (refuse, rate_limit, partition reject) for a connection about to open. */
  admit(state: ConnectionFaultState): Admission {
    const now = this.clock();
    if (!this.faultsEnabled(now)) return {};
    for (const fault of this.candidates(state)) {
      if (!fault.type.admit || fault.after > 0 || !this.drew(state, fault)) continue;
      let shared = this.shared.get(fault.key);
      if (!shared) this.shared.set(fault.key, (shared = {}));
      const reason = fault.type.admit(fault.options, shared, now);
      if (reason !== undefined) return { refused: { fault, reason } };
    }
    return {};
  }

  /** The faults that apply to a connection now, and when that may next change. */
  plan(state: ConnectionFaultState): FaultPlan {
    const now = this.clock();
    const expiresAt = this.current.expiresAt;
    let nextChangeAt = expiresAt !== undefined && now < expiresAt ? expiresAt : undefined;
    if (!this.faultsEnabled(now)) return { active: [], nextChangeAt };
    const active: CompiledFault[] = [];
    const consider = (at: number) => {
      if (at > now && (nextChangeAt === undefined || at < nextChangeAt)) nextChangeAt = at;
    };
    for (const fault of this.candidates(state)) {
      if (!fault.type.stage && !fault.type.activate) continue;
      if (!this.drew(state, fault)) continue;
      const start = state.startedAt + fault.after;
      const end = fault.for === undefined ? Infinity : start + fault.for;
      consider(start);
      consider(end);
      if (now >= start && now < end) active.push(fault);
    }
    return { active, nextChangeAt };
  }

  private *candidates(state: ConnectionFaultState): Iterable<CompiledFault> {
    for (const rule of this.current.rules) {
      if (rule.scope === 'live' && rule.match(state.meta)) yield* rule.faults;
    }
    for (const rule of state.pinned) yield* rule.faults;
  }

  /** Draws once per connection and fault: probability, then the firstConnections quota. */
  private drew(state: ConnectionFaultState, fault: CompiledFault): boolean {
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
