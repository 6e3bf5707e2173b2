import { ExperimentFileError } from '../errors.js';
import { parseRequired, reportZod, type Path, type Report } from '../policy/positions.js';
import { validateRulesAt } from '../policy/rules.js';
import { randomFaultTypes } from './random.js';
import { experimentSchema, type ExperimentDocument } from './schema.js';

/** Rule names on targets: `exp.<experiment>.<rule>`, so that they are recognisably the experiment's. */
export const rulePrefix = (experiment: string): string => `exp.${experiment}.`;
const MAX_RULE_NAME = 63;

type Loose = Record<string, unknown>;

/**
 * Parses and validates an experiment file. Throws an ExperimentFileError listing every problem
 * as FILE:LINE:COL: message, in file order, like policies: the rules of its steps are checked by
 * the policy loader itself, their problems placed where they are in this file.
 */
export function loadExperiment(text: string, file: string): ExperimentDocument {
  const positioned = parseRequired(text, 'the experiment is empty: expected apiVersion, kind, metadata and spec', (problems) => new ExperimentFileError(file, problems));
  const parsed = experimentSchema.safeParse(positioned.raw);
  if (!parsed.success) reportZod(parsed.error, [], positioned.raw, positioned.report);
  checkExperiment(positioned.raw as Loose, positioned.report);
  if (positioned.problems.length > 0 || !parsed.success) throw new ExperimentFileError(file, positioned.sorted());
  return (parsed as { data: ExperimentDocument }).data;
}

/** Validates an experiment built in code (the CLI's random mode); problems become one message each. */
export function validateExperiment(input: unknown): { doc: ExperimentDocument } | { problems: string[] } {
  const problems: string[] = [];
  const report: Report = (path, message, key) => problems.push(`${[...path, ...(key ? [key] : [])].join('.')}: ${message}`);
  const parsed = experimentSchema.safeParse(input);
  if (!parsed.success) reportZod(parsed.error, [], input, report);
  checkExperiment(input as Loose, report);
  return parsed.success && problems.length === 0 ? { doc: parsed.data } : { problems };
}

const list = (value: unknown): Loose[] => (Array.isArray(value) ? (value as Loose[]).filter((v) => v && typeof v === 'object') : []);

/** Checks zod cannot express: one of a kind of field, references, and every rule as the policy loader sees it. */
function checkExperiment(raw: Loose, at: Report): void {
  const spec = (raw?.spec ?? {}) as Loose;
  const experiment = typeof (raw?.metadata as Loose | undefined)?.name === 'string' ? ((raw.metadata as Loose).name as string) : 'x';
  const targets = list(spec.targets);
  const names = new Set<string>();
  targets.forEach((target, i) => {
    const kinds = ['admin', 'configMap', 'kubernetes'].filter((k) => target[k] !== undefined);
    if (kinds.length !== 1) at(['spec', 'targets', i], kinds.length === 0 ? 'a target needs admin: {url, tokenFile}, configMap: {name, namespace} or kubernetes: {namespace, selector, mode, value}' : `a target is one of admin, configMap and kubernetes (this one has ${kinds.join(' and ')})`);
    if (typeof target.name === 'string' && names.has(target.name)) at(['spec', 'targets', i, 'name'], `duplicate target name "${target.name}"`);
    names.add(String(target.name));
  });
  const probes = list((spec.steadyState as Loose | undefined)?.probes);
  const probeNames = new Set<string>();
  probes.forEach((probe, i) => {
    const kinds = ['http', 'tcp'].filter((k) => probe[k] !== undefined);
    if (kinds.length !== 1) at(['spec', 'steadyState', 'probes', i], kinds.length === 0 ? 'a probe needs http: {url} or tcp: {address}' : 'a probe is http or tcp, not both');
    if (typeof probe.name === 'string' && probeNames.has(probe.name)) at(['spec', 'steadyState', 'probes', i, 'name'], `duplicate probe name "${probe.name}"`);
    probeNames.add(String(probe.name));
  });
  const checkTargets = (refs: unknown, path: Path): void => {
    if (!Array.isArray(refs)) return;
    refs.forEach((ref, j) => {
      if (typeof ref === 'string' && !names.has(ref)) at([...path, j], `no target named "${ref}" in spec.targets`);
    });
  };
  const method = Array.isArray(spec.method) ? (spec.method as unknown[]) : [];
  const kubernetesTargets = targets.filter((t) => t.kubernetes !== undefined).map((t) => String(t.name));
  method.forEach((entry, i) => {
    if (!entry || typeof entry !== 'object') return;
    checkStep(entry as Loose, ['spec', 'method', i], experiment, at);
    checkTargets((entry as Loose).targets, ['spec', 'method', i, 'targets']);
    for (const kind of ['podKill', 'scale'] as const) {
      const action = (entry as Loose)[kind] as Loose | undefined;
      if (!action || typeof action !== 'object') continue;
      const named = action.target;
      if (typeof named === 'string' ? !kubernetesTargets.includes(named) : kubernetesTargets.length !== 1) {
        at(['spec', 'method', i, kind, ...(typeof named === 'string' ? ['target'] : [])], typeof named === 'string' ? `no kubernetes target named "${named}" in spec.targets` : `${kind} needs a kubernetes target: name it with target: (${kubernetesTargets.length} kubernetes targets)`);
      }
    }
  });
  const random = spec.random as Loose | undefined;
  if (random && typeof random === 'object') {
    checkTargets(random.targets, ['spec', 'random', 'targets']);
    if (Array.isArray(random.types)) {
      random.types.forEach((type, j) => {
        if (typeof type === 'string' && !randomFaultTypes().includes(type)) at(['spec', 'random', 'types', j], `"${type}" cannot be drawn (known: ${randomFaultTypes().join(', ')})`);
      });
    }
    if (typeof random.match === 'object' && random.match) checkRules([{ name: 'random', match: random.match, faults: [{ type: 'refuse' }] }], [['spec', 'random']], experiment, at);
  }
  if (method.length === 0 && !random) at(['spec'], 'an experiment needs a method (steps) or random');
}

function checkStep(step: Loose, path: Path, experiment: string, at: Report): void {
  const kinds = ['wait', 'rules', 'scenario', 'podKill', 'scale'].filter((k) => step[k] !== undefined);
  if (kinds.length !== 1) {
    at(path, kinds.length === 0 ? 'a step needs wait: DURATION, rules: [...], scenario: NAME, podKill: {count} or scale: {deployment, replicas}' : `a step has one of wait, rules, scenario, podKill and scale (this one has ${kinds.join(' and ')})`);
    return;
  }
  const [kind] = kinds;
  const stray = (keys: string[], why: string) => keys.filter((k) => step[k] !== undefined).forEach((k) => at(path, why, k));
  if (kind === 'wait') return stray(['targets', 'match', 'faults', 'duration', 'ramp'], 'a wait step applies nothing: drop this field');
  if (kind === 'podKill') return stray(['targets', 'match', 'faults', 'duration', 'ramp'], 'a podKill step applies no rule: drop this field');
  if (kind === 'scale') return stray(['targets', 'match', 'faults', 'ramp'], 'a scale step applies no rule: drop this field');
  if (kind === 'rules') stray(['match', 'faults'], 'goes with scenario: (rules carry their own match and faults)');
  const timed = ['duration', 'ramp'].filter((k) => step[k] !== undefined);
  if (timed.length !== 1) at(path, timed.length === 0 ? 'a step that applies faults needs duration: DURATION or ramp: {probabilities, every}' : 'give duration or ramp, not both');
  if (kind === 'scenario') {
    const name = typeof step.name === 'string' ? step.name : 'step';
    checkRules([{ name, scenario: step.scenario, ...(step.match ? { match: step.match } : {}), ...(step.faults ? { faults: step.faults } : {}) }], [path], experiment, at);
    return;
  }
  if (Array.isArray(step.rules)) checkRules(step.rules as Loose[], step.rules.map((_, r) => [...path, 'rules', r]), experiment, at);
}

/**
 * Validates rules with the policy loader (as `POST /rules` does), placing each problem at the
 * rule's position in this file; rule names must leave room for the experiment's prefix.
 */
function checkRules(rules: Loose[], paths: Path[], experiment: string, at: Report): void {
  validateRulesAt(rules, paths, at);
  rules.forEach((rule, r) => {
    if (typeof rule?.name === 'string' && rulePrefix(experiment).length + rule.name.length > MAX_RULE_NAME) {
      at([...(paths[r] ?? []), 'name'], `with the experiment's prefix "${rulePrefix(experiment)}" the rule name is over ${MAX_RULE_NAME} characters: shorten it`);
    }
  });
}
