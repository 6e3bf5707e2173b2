import type { Path, Report } from '../policy/positions.js';
import { CONNECTION_PROTOCOLS } from '../policy/match.js';
import { scenarioRegistry, type Scenario } from './index.js';

type Loose = Record<string, unknown>;

/** What expansion did to a document: where each expanded fault came from, for error positions. */
export interface ScenarioExpansion {
  /** A copy of the document with every valid `scenario:` rule's faults expanded. */
  doc: unknown;
  /**
   * Maps a path in the expanded document back to the path of the text the user wrote (a merged
   * fault to its `faults:` entry, a scenario's own fault to the `scenario` key); null when the
   * problem follows from one already reported (an unknown scenario).
   */
  remap(path: Path): Path | null;
}

const L7_MATCH_KEYS = ['http', 'grpc'] as const;

/** Whether a rule's match has an L7 part (what makes it an L7 rule). */
function isL7(match: Loose): boolean {
  return (typeof match.protocol === 'string' && !CONNECTION_PROTOCOLS.includes(match.protocol)) || L7_MATCH_KEYS.some((k) => match[k] !== undefined);
}

/**
 * The scenario's faults with the rule's own entries merged over them: an entry of the same type
 * as a scenario fault replaces the fields it gives (`{type: latency, latency: 800ms}`, or
 * `probability: 0` to leave that fault out); an entry of another type is added after them.
 * `sources[i]` is the index of the rule's entry merged into fault i, or -1 for none.
 */
export function mergeFaults(scenario: Scenario, own: readonly unknown[], kernel = false): { faults: Loose[]; sources: number[] } {
  const used = new Set<number>();
  const faults: Loose[] = [];
  const sources: number[] = [];
  for (const written of scenario.faults) {
    const replaced = kernel ? scenario.kernel?.[written.type as string] : undefined;
    const base = replaced ?? written;
    const j = own.findIndex((entry, index) => !used.has(index) && [written.type, base.type].includes((entry as Loose | null)?.type));
    if (j >= 0) used.add(j);
    // An override of the replaced type (loss) changes its replacement's fields, keeping its type.
    faults.push({ ...structuredClone(base), ...(j >= 0 ? (own[j] as Loose) : {}), type: base.type });
    sources.push(j);
  }
  own.forEach((entry, j) => {
    if (used.has(j)) return;
    faults.push(entry as Loose);
    sources.push(j);
  });
  return { faults, sources };
}

/** Why a scenario cannot go in a rule with this match, if it cannot. */
function mismatch(scenario: Scenario, match: Loose, terminate: boolean): string | undefined {
  // A terminating rule decrypts its server names, so an HTTP scenario sees their requests.
  if (scenario.layer === 'http' && (CONNECTION_PROTOCOLS.includes(match.protocol) || (match.sni !== undefined && !terminate))) {
    const what = typeof match.protocol === 'string' && CONNECTION_PROTOCOLS.includes(match.protocol) ? `protocol: ${match.protocol}` : 'sni (or add tls: terminate)';
    return `${scenario.name} acts on HTTP requests: drop ${what} from the match`;
  }
  if (scenario.layer === 'connection' && isL7(match)) return `${scenario.name} is made of connection faults: drop protocol/http/grpc from the match`;
  return undefined;
}

/**
 * Expands the `scenario:` of every rule of a policy document (as plain JS, before validation).
 * An unknown scenario name, or one whose layer does not fit the rule's match, is reported at the
 * `scenario` key and that rule's faults are left as written.
 */
export function expandScenarios(input: unknown, report: Report, options: { kernelFaults?: boolean | undefined } = {}): ScenarioExpansion {
  const rules = (input as { spec?: { rules?: unknown } } | null)?.spec?.rules;
  const sources = new Map<number, { scenario: string; sources: number[] }>();
  const broken = new Set<number>();
  if (!Array.isArray(rules) || !rules.some((r) => (r as Loose | null)?.scenario !== undefined)) return { doc: input, remap: (p) => p };
  const doc = structuredClone(input) as { spec: { rules: Loose[] } };
  doc.spec.rules.forEach((rule, r) => {
    if (!rule || typeof rule !== 'object' || typeof rule.scenario !== 'string') return;
    const at: Path = ['spec', 'rules', r, 'scenario'];
    const scenario = scenarioRegistry.get(rule.scenario);
    const match = (rule.match && typeof rule.match === 'object' ? rule.match : {}) as Loose;
    const why = scenario ? mismatch(scenario, match, rule.tls === 'terminate') : `unknown scenario "${rule.scenario}" (known: ${[...scenarioRegistry.keys()].join(', ')})`;
    if (!scenario || why) {
      report(at, why as string);
      broken.add(r);
      return;
    }
    const own = rule.faults === undefined ? [] : Array.isArray(rule.faults) ? rule.faults : undefined;
    if (!own) return; // not a list: the schema says so, at its place
    // Kernel replacements only where they can act: on-demand sidecars, captured traffic.
    const merged = mergeFaults(scenario, own, options.kernelFaults === true && match.listener === undefined);
    rule.faults = merged.faults;
    if (scenario.layer === 'http' && !isL7(match)) rule.match = { ...match, protocol: 'http' };
    sources.set(r, { scenario: scenario.name, sources: merged.sources });
  });
  const remap = (path: Path): Path | null => {
    const [spec, rulesKey, r, faultsKey, f, ...rest] = path;
    if (spec !== 'spec' || rulesKey !== 'rules' || typeof r !== 'number') return path;
    if (broken.has(r)) return faultsKey === 'faults' ? null : path;
    const origin = sources.get(r);
    if (!origin || faultsKey !== 'faults' || typeof f !== 'number') return path;
    const j = origin.sources[f] ?? -1;
    return j >= 0 ? ['spec', 'rules', r, 'faults', j, ...rest] : ['spec', 'rules', r, 'scenario', ...rest];
  };
  return { doc, remap };
}
