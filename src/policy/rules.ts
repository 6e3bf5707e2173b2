import { PolicyError } from '../errors.js';
import { loadPolicy } from './load.js';
import { parseRequired, type Path, type Report } from './positions.js';
import { API_VERSION, KIND } from './schema.js';

type Loose = Record<string, unknown>;

/**
 * Validates rules with the policy loader (as `POST /rules` does), each as if in a policy of its
 * own, and reports every problem at the rule's place in the file it came from: `paths[r]` is
 * where rule r sits there. Listeners the rules name are taken as known (the sidecar that gets
 * them checks its own).
 */
export function validateRulesAt(rules: Loose[], paths: Path[], at: Report): void {
  const listeners = [...new Set(rules.map((r) => (r?.match as Loose | undefined)?.listener).filter((l): l is string => typeof l === 'string'))];
  const doc = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'rules' }, spec: { rules } };
  try {
    loadPolicy(JSON.stringify(doc), 'rules', { knownListeners: listeners });
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    for (const problem of err.problems) {
      const [, , r, ...rest] = problem.path;
      const base = paths[typeof r === 'number' ? r : 0] ?? paths[0] ?? [];
      const text = problem.message.replace(/^[A-Za-z0-9_.[\]-]+: /, '');
      const described = /^([A-Za-z0-9_.[\]-]+): /.exec(problem.message)?.[1] ?? '';
      const key = /\.([A-Za-z0-9_-]+)$/.exec(described)?.[1];
      const withKey = key !== undefined && rest[rest.length - 1] !== key && /unknown field/.test(text);
      at(typeof r === 'number' ? [...base, ...rest] : base, text, withKey ? key : undefined);
    }
  }
}

/**
 * The rules of a rules file (`faultline rules add -f FILE`): a FaultPolicy document (its
 * `spec.rules`), a YAML list of rules, or a single rule. Throws a PolicyError with
 * FILE:LINE:COL lines when anything does not validate.
 */
export function loadRulesFile(text: string, file: string): Loose[] {
  const positioned = parseRequired(text, 'the file is empty: expected a rule, a list of rules or a FaultPolicy', (problems) => new PolicyError(file, problems));
  const raw = positioned.raw;
  let rules: unknown;
  let base: Path;
  if (Array.isArray(raw)) [rules, base] = [raw, []];
  else if (raw && typeof raw === 'object' && (raw as Loose).kind === KIND) [rules, base] = [((raw as Loose).spec as Loose | undefined)?.rules, ['spec', 'rules']];
  else [rules, base] = [[raw], []];
  const single = !Array.isArray(raw) && base.length === 0;
  if (!Array.isArray(rules) || rules.length === 0) positioned.report(base, 'no rule to add');
  else if (rules.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) positioned.report(base, 'expected rules: mappings with name, match and faults');
  else validateRulesAt(rules as Loose[], rules.map((_, i) => (single ? [] : [...base, i])), positioned.report);
  if (positioned.problems.length > 0) throw new PolicyError(file, positioned.sorted());
  return rules as Loose[];
}
