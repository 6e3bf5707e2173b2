import { mergeFaults } from '../scenarios/expand.js';
import { scenarioRegistry } from '../scenarios/index.js';
import { rulePrefix } from './load.js';
import { drawRandom, randomRule } from './random.js';
import type { ExperimentDocument, StepSpec } from './schema.js';

type Rule = Record<string, unknown>;

/** One stretch of an apply action: its rules for `ms`, every fault at `probability` when set. */
export interface Stage {
  ms: number;
  probability?: number | undefined;
}

/** What the runner does, in order: pause, or apply rules to targets through stages. */
export type Action =
  | { kind: 'wait'; name: string; ms: number }
  | { kind: 'apply'; name: string; targets: string[]; rules: Rule[]; stages: Stage[] }
  | { kind: 'podKill'; name: string; target: string; count: number; readyTimeout: number }
  | { kind: 'scale'; name: string; target: string; deployment: string; replicas: number; holdMs: number; readyTimeout: number };

/** The rule as sent to a target: the experiment's prefix on its name. */
const prefixed = (experiment: string, rule: Rule): Rule => ({ ...rule, name: `${rulePrefix(experiment)}${String(rule.name)}` });

/**
 * Every fault of `rule` at `probability` (a ramp stage). A scenario rule gets its faults written
 * out, merged with its own entries, so that each carries the probability.
 */
export function withProbability(rule: Rule, probability: number): Rule {
  const own = Array.isArray(rule.faults) ? (rule.faults as Rule[]) : [];
  const scenario = typeof rule.scenario === 'string' ? scenarioRegistry.get(rule.scenario) : undefined;
  const faults = scenario ? mergeFaults(scenario, own).faults : own;
  return { ...rule, faults: faults.map((f) => ({ ...f, probability })) };
}

function stepAction(step: StepSpec, index: number, doc: ExperimentDocument): Action {
  const name = step.name ?? `step-${index + 1}`;
  if (step.wait !== undefined) return { kind: 'wait', name, ms: step.wait };
  // The kubernetes target a podKill or scale step acts through: the one named, or the only one (load.ts checked).
  const cluster = (named: string | undefined) => named ?? (doc.spec.targets.find((t) => t.kubernetes)?.name as string);
  if (step.podKill) return { kind: 'podKill', name, target: cluster(step.podKill.target), count: step.podKill.count, readyTimeout: step.podKill.readyTimeout };
  if (step.scale) return { kind: 'scale', name, target: cluster(step.scale.target), deployment: step.scale.deployment, replicas: step.scale.replicas, holdMs: step.duration ?? 0, readyTimeout: step.scale.readyTimeout };
  const rules: Rule[] = step.rules ?? [{ name, scenario: step.scenario, ...(step.match ? { match: step.match } : {}), ...(step.faults ? { faults: step.faults } : {}) }];
  const stages: Stage[] = step.ramp ? step.ramp.probabilities.map((p) => ({ ms: step.ramp?.every as number, probability: p })) : [{ ms: step.duration as number }];
  return { kind: 'apply', name, targets: step.targets ?? doc.spec.targets.map((t) => t.name), rules: rules.map((r) => prefixed(doc.metadata.name, r)), stages };
}

/** The actions of an experiment: its method's steps, then its random mode's draws (with `seed`). */
export function planActions(doc: ExperimentDocument, seed: number): Action[] {
  const actions = doc.spec.method.map((step, i) => stepAction(step, i, doc));
  const random = doc.spec.random;
  if (!random) return actions;
  const faultMs = Math.min(random.faultDuration ?? random.interval / 2, random.interval);
  const targets = random.targets ?? doc.spec.targets.map((t) => t.name);
  for (const draw of drawRandom(random, seed)) {
    if (draw.type === null) {
      actions.push({ kind: 'wait', name: `random-${draw.tick + 1}`, ms: random.interval });
      continue;
    }
    const name = `random-${draw.tick + 1}-${draw.type.replace(/_/g, '-')}`;
    actions.push({ kind: 'apply', name, targets, rules: [prefixed(doc.metadata.name, randomRule(`random-${draw.tick + 1}`, draw.type, random.match))], stages: [{ ms: faultMs }] });
    if (random.interval > faultMs) actions.push({ kind: 'wait', name: `random-${draw.tick + 1}-rest`, ms: random.interval - faultMs });
  }
  return actions;
}
