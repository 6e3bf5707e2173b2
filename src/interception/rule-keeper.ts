import { IptablesError } from '../errors.js';
import type { Demand } from './demand.js';
import { CHAINS, cleanupPlan, exec, JUMPS, runPlan, type InterceptionConfig } from './iptables.js';
import { describeRendered, renderDemand, restoreInput, type RenderedFamily } from './on-demand-rules.js';

/** Runs `iptables-restore --noflush` (or ip6tables-) with `input`; throws an IptablesError on failure. */
export type Restore = (family: 4 | 6, input: string) => void;

const restore: Restore = (family, input) => {
  const bin = family === 4 ? 'iptables-restore' : 'ip6tables-restore';
  const failure = exec(bin, ['--noflush'], input);
  if (failure) throw new IptablesError(`${failure.message}; its input was:\n${input}`, { cause: failure });
};

/** What is installed now, and how. */
export interface Installed {
  /** The rules that act (reachable from a built-in chain), as commands, IPv4 then IPv6. */
  rules: string[];
  /** Redirect chains no rule jumps to any more, kept while redirected connections may last (see prune). */
  lingering: string[];
  /** Epoch ms of the lease's end (0 when no rule acts). */
  leaseEnd: number;
}

/** The nat chains that hold the REDIRECT rules (their existence keeps conntrack on), and the entry chain that jumps to each. */
const REDIRECT_CHAINS: Record<string, string> = { [CHAINS.inRedirect]: CHAINS.inbound, [CHAINS.redirect]: CHAINS.output };

/** A rendering's part that acts, and its redirect chains that no rule jumps to any more. */
function split(rendered: RenderedFamily): { acting: RenderedFamily; lingering: RenderedFamily } {
  const nat = [...rendered.tables.nat];
  const isLingering = (chain: string) => chain in REDIRECT_CHAINS && !rendered.tables.nat.has(REDIRECT_CHAINS[chain] as string);
  return {
    acting: { ...rendered, tables: { nat: new Map(nat.filter(([c]) => !isLingering(c))), filter: rendered.tables.filter } },
    lingering: { ...rendered, jumps: [], tables: { nat: new Map(nat.filter(([c]) => isLingering(c))), filter: new Map() } },
  };
}

/**
 * Keeps the kernel's on-demand rules equal to a demand, in the root helper. It remembers what it
 * installed per family, so each change is one `iptables-restore --noflush` transaction per table
 * from that state to the next. If the kernel is not in the state it remembers (someone flushed
 * our chains by hand), the transaction fails as a whole; then every chain of ours is removed and
 * the demand installed afresh.
 */
export class RuleKeeper {
  private readonly installed = new Map<4 | 6, RenderedFamily>();
  private leaseEnd = 0;

  constructor(
    private readonly config: InterceptionConfig,
    private readonly families: (4 | 6)[],
    private readonly leaseMs: number,
    private readonly run: Restore = restore,
    private readonly cleanup: (family: 4 | 6) => void = (family) => runPlan(cleanupPlan(family)),
  ) {}

  /** Removes every chain of ours, also those a previous sidecar left behind. */
  reset(): void {
    for (const family of this.families) this.cleanup(family);
    this.installed.clear();
  }

  /**
   * Installs `demand` (an empty one removes every rule that acts) with a lease from `now`. The
   * redirect chains a change leaves unreachable stay until `prune`: connections redirected
   * before it keep their address translation only while conntrack runs, and conntrack runs in
   * the pod's namespace only while some rule needs it (ours: the REDIRECT rules).
   */
  apply(demand: Demand, now = Date.now()): Installed {
    // The kernel keeps the lease to the second (on-demand-rules.ts rounds it up): say so here too.
    const leaseEnd = Math.ceil((now + this.leaseMs) / 1000) * 1000;
    for (const family of this.families) {
      const next = renderDemand(this.config, demand, family, leaseEnd);
      const previous = this.installed.get(family);
      for (const chain of Object.keys(REDIRECT_CHAINS)) {
        const kept = previous?.tables.nat.get(chain);
        if (kept && !next.tables.nat.has(chain)) next.tables.nat.set(chain, kept);
      }
      this.transition(family, next);
    }
    return this.state(leaseEnd);
  }

  /**
   * Deletes what no longer acts: with `nat`, the lingering redirect chains (call it once no
   * redirected connection is left: without them conntrack stops, and with it their address
   * translation); then the built-in chains our jumps lived in, where they are empty now
   * (iptables-nft creates them on first use and keeps them), so that the kernel runs no
   * netfilter hook for the pod's packets at all. A chain with someone else's rules in it, or a
   * policy other than ACCEPT, is never deleted (iptables refuses: "Directory not empty").
   */
  prune(tables: ('nat' | 'filter')[]): Installed {
    for (const family of this.families) {
      const current = this.installed.get(family);
      if (current && tables.includes('nat')) this.transition(family, split(current).acting);
      const bin = family === 4 ? 'iptables' : 'ip6tables';
      const left = this.installed.get(family)?.tables;
      for (const { table, from } of JUMPS) if (tables.includes(table) && !left?.[table].size) exec(bin, ['-t', table, '-X', from]);
    }
    return this.state(this.leaseEnd);
  }

  /** Moves one family from what is installed to `next` in one transaction per table. */
  private transition(family: 4 | 6, rendered: RenderedFamily): void {
    const next = rendered.tables.nat.size + rendered.tables.filter.size > 0 ? rendered : undefined;
    const previous = this.installed.get(family);
    if (!next && !previous) return;
    try {
      this.run(family, restoreInput(next, previous));
    } catch {
      this.cleanup(family);
      this.installed.delete(family);
      if (next) this.run(family, restoreInput(next, undefined));
    }
    if (next) this.installed.set(family, next);
    else this.installed.delete(family);
  }

  private state(leaseEnd: number): Installed {
    const parts = this.families.map((family) => this.installed.get(family)).filter((r): r is RenderedFamily => r !== undefined).map(split);
    const rules = parts.flatMap((p) => describeRendered(p.acting));
    this.leaseEnd = rules.length ? leaseEnd : 0;
    return { rules, lingering: parts.flatMap((p) => describeRendered(p.lingering)), leaseEnd: this.leaseEnd };
  }
}
