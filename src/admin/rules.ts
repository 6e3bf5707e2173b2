import { PolicyError, RequestError } from '../errors.js';
import { compilePolicy } from '../policy/compile.js';
import { fieldText } from '../policy/positions.js';
import { API_VERSION, KIND } from '../policy/schema.js';
import type { RuntimeLayers } from './layers.js';

/** One problem with a rule sent to the admin API, its path relative to the rule. */
export interface RuleProblem {
  path: string;
  message: string;
}

/** A PolicyError's problems for a rule checked alone, their paths made relative to the rule. */
function ruleProblems(err: PolicyError): RuleProblem[] {
  return err.problems.map((p) => {
    const field = p.field ?? p.path;
    const inRule = field[0] === 'spec' && field[1] === 'rules' && field[2] === 0 ? field.slice(3) : field;
    return { path: fieldText(inRule), message: p.detail ?? p.message };
  });
}

function invalid(problems: RuleProblem[]): RequestError {
  const text = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
  return new RequestError(400, 'invalid_rule', `the rule is invalid: ${text}`, { problems });
}

/**
 * Runtime rules (`POST /rules`, `DELETE /rules/NAME`): policy rules layered over the file
 * policy, validated exactly as a rule in the file would be, and kept across file reloads.
 * Methods that change them must run inside `layers.exclusive`.
 */
export class RuntimeRules {
  constructor(private readonly layers: RuntimeLayers) {}

  list(): Record<string, unknown>[] {
    return this.layers.get('rules').rules;
  }

  /**
   * Adds the rule, or replaces the runtime rule of the same name. Resolves true when it was
   * new. A rule that fails validation is a 400 RequestError listing every problem.
   */
  async put(input: unknown): Promise<boolean> {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw invalid([{ path: '', message: 'expected a rule object: {"name": ..., "match": {...}, "faults": [...]}' }]);
    }
    const rule = input as Record<string, unknown>;
    this.check(rule);
    const part = this.layers.get('rules');
    const existing = part.rules.findIndex((r) => r.name === rule.name);
    if (existing >= 0) part.rules[existing] = rule;
    else part.rules.push(rule);
    try {
      await this.layers.set('rules', part);
    } catch (err) {
      // Checked alone it was valid: what is left is how it fits the rest (a duplicate name).
      // Its path is the rule's field (`name`), not where the rule landed in the merged policy.
      if (err instanceof PolicyError) throw invalid(err.problems.map((p) => ({ path: fieldText((p.field ?? p.path).slice(3)) || 'name', message: p.detail ?? p.message })));
      throw err;
    }
    return existing < 0;
  }

  /** The runtime rule named `name`; a 404 when there is none (saying so when it is a rule of the file). */
  get(name: string): Record<string, unknown> {
    const rule = this.list().find((r) => r.name === name);
    if (!rule) throw this.notFound(name);
    return rule;
  }

  private notFound(name: string): RequestError {
    const inFile = this.layers.sidecar.policy.rules.some((r) => r.name === name);
    return new RequestError(404, 'not_found', inFile ? `"${name}" is a rule of the policy file, not a runtime rule: change the file` : `no runtime rule named "${name}"`);
  }

  /** Removes a runtime rule; a 404 when there is none by that name (file rules change with the file). */
  async remove(name: string): Promise<void> {
    const part = this.layers.get('rules');
    const rules = part.rules.filter((r) => r.name !== name);
    if (rules.length === part.rules.length) throw this.notFound(name);
    await this.layers.set('rules', { ...part, rules });
  }

  /** Validates the rule alone, as the only rule of a policy that knows every listener in force. */
  private check(rule: Record<string, unknown>): void {
    const doc = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'runtime' }, spec: { rules: [rule] } };
    const knownListeners = this.layers.sidecar.policy.listeners.map((l) => l.name);
    try {
      compilePolicy(JSON.stringify(doc), 'rule', { knownListeners });
    } catch (err) {
      if (err instanceof PolicyError) throw invalid(ruleProblems(err));
      throw err;
    }
  }
}
