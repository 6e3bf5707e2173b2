import { UsageError } from '../errors.js';

/** One requirement of a label selector. */
export interface Requirement {
  key: string;
  operator: 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
  values: string[];
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '<', '>']);
// Kubernetes' qualified names and label values (k8s.io/apimachinery validation).
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Token = { kind: 'id'; text: string } | { kind: 'op'; text: string } | { kind: 'end' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (SPECIAL.has(c)) {
      // Two-character operators: ==, !=
      const two = text.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        tokens.push({ kind: 'op', text: two });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: c });
        i++;
      }
    } else {
      let j = i;
      while (j < text.length && !/\s/.test(text[j] as string) && !SPECIAL.has(text[j] as string)) j++;
      tokens.push({ kind: 'id', text: text.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

/** Why `key` is not a label key, or undefined when it is one. */
function keyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !prefix.split('.').every((l) => DNS_LABEL.test(l)))) {
    return `the prefix of "${key}" must be a DNS subdomain (such as example.com)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) return `"${key}" is not a label key: at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside`;
  return undefined;
}

/** Why `value` is not a label value, or undefined when it is one. */
function valueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63 || !NAME.test(value)) return `"${value}" is not a label value: at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside`;
  return undefined;
}

/**
 * Parses a Kubernetes label selector (`kubectl -l`), the full grammar: comma-separated
 * requirements `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
 * `key notin (a,b)`, `key>N`, `key<N`. Throws a UsageError saying what is wrong where, so that a
 * typo is caught before anything is sent to the API server. An empty selector selects everything.
 */
export function parseSelector(text: string): Requirement[] {
  const tokens = tokenize(text);
  let at = 0;
  const fail = (why: string): never => {
    throw new UsageError(`-l ${JSON.stringify(text)}: ${why}`);
  };
  const peek = () => tokens[at] as Token;
  const next = () => tokens[at++] as Token;
  const identifier = (what: string): string => {
    const token = next();
    if (token.kind !== 'id') fail(`expected ${what}, found ${token.kind === 'end' ? 'the end' : `"${token.text}"`}`);
    return (token as { text: string }).text;
  };
  const checkKey = (key: string) => {
    const problem = keyProblem(key);
    if (problem) fail(problem);
  };
  const requirements: Requirement[] = [];
  if (peek().kind === 'end') return requirements;
  for (;;) {
    let requirement: Requirement;
    if (peek().kind === 'op' && (peek() as { text: string }).text === '!') {
      next();
      const key = identifier('a label key after "!"');
      checkKey(key);
      requirement = { key, operator: '!', values: [] };
    } else {
      const key = identifier('a label key');
      checkKey(key);
      const op = peek();
      if (op.kind === 'end' || (op.kind === 'op' && op.text === ',')) {
        requirement = { key, operator: 'exists', values: [] };
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        next();
        const open = next();
        if (open.kind !== 'op' || open.text !== '(') fail(`expected "(" after ${op.text}`);
        const values: string[] = [];
        for (;;) {
          const token = next();
          if (token.kind === 'op' && token.text === ')' && values.length === 0) fail(`${op.text} needs at least one value`);
          if (token.kind !== 'id') fail(`expected a value in the list of ${key} ${op.text}`);
          values.push((token as { text: string }).text);
          const sep = next();
          if (sep.kind === 'op' && sep.text === ')') break;
          if (sep.kind !== 'op' || sep.text !== ',') fail(`expected "," or ")" in the list of ${key} ${op.text}`);
        }
        requirement = { key, operator: op.text, values };
      } else if (op.kind === 'op' && ['=', '==', '!=', '>', '<'].includes(op.text)) {
        next();
        const value = peek().kind === 'id' ? (next() as { text: string }).text : '';
        const operator = op.text === '!=' ? '!=' : op.text === '>' ? 'gt' : op.text === '<' ? 'lt' : '=';
        if ((operator === 'gt' || operator === 'lt') && !/^-?\d+$/.test(value)) fail(`${key} ${op.text} needs an integer, got "${value}"`);
        requirement = { key, operator, values: [value] };
      } else {
        fail(`after "${key}" expected =, ==, !=, in, notin, >, < or ",", found "${(op as { text: string }).text}"`);
        throw new Error('unreachable');
      }
    }
    for (const value of requirement.values) {
      const problem = requirement.operator === 'gt' || requirement.operator === 'lt' ? undefined : valueProblem(value);
      if (problem) fail(problem);
    }
    requirements.push(requirement);
    const sep = next();
    if (sep.kind === 'end') return requirements;
    if (sep.kind !== 'op' || sep.text !== ',') fail(`expected "," between requirements, found "${(sep as { text: string }).text}"`);
  }
}

/** Whether `labels` satisfy every requirement. */
export function matchesSelector(requirements: readonly Requirement[], labels: Record<string, string> = {}): boolean {
  return requirements.every(({ key, operator, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (operator) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
      case 'in':
        return has && values.includes(value as string);
      case '!=':
      case 'notin':
        return !has || !values.includes(value as string);
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(value as string)) return false;
        const n = Number(value);
        return operator === 'gt' ? n > Number(values[0]) : n < Number(values[0]);
      }
    }
  });
}
