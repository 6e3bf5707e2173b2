import type { PolicyProblem } from '../errors.js';

/**
 * The largest policy faultline reads: 1 MiB, a ConfigMap's own limit. A larger one is refused
 * before it is parsed (its compile would hold the sidecar for seconds).
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** The deepest nesting of maps and lists a policy may have; real ones stay under 10. */
export const MAX_POLICY_DEPTH = 64;

/**
 * Refuses, before the YAML parser sees it, a text over MAX_POLICY_BYTES or nested deeper than
 * MAX_POLICY_DEPTH (in flow `[`/`{` or by indentation): the parser's tree and error list for
 * 100 KB of nested brackets cost over 100 MiB. Undefined when the text is within the limits.
 */
export function policyLimitProblem(text: string): PolicyProblem | undefined {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_POLICY_BYTES) return problem(1, 1, `the policy is ${bytes} bytes, over the ${MAX_POLICY_BYTES}-byte limit (1 MiB, as a ConfigMap): split it, or use FaultPolicy objects`, 'FL_ERR_POLICY_TOO_LARGE');
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      // Block nesting: each level indents by at least one space.
      let indent = 0;
      while (text[i + 1 + indent] === ' ' || text[i + 1 + indent] === '-') indent++;
      if (indent > MAX_POLICY_DEPTH * 4) return tooDeep(line, 1);
      continue;
    }
    if (quote !== undefined) {
      if (c === quote && text[i - 1] !== '\\') quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#') while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_POLICY_DEPTH) return tooDeep(line, i - lineStart + 1);
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

function tooDeep(line: number, col: number): PolicyProblem {
  return problem(line, col, `nested deeper than ${MAX_POLICY_DEPTH} levels: not a policy`, 'FL_ERR_POLICY_TOO_DEEP');
}

function problem(line: number, col: number, message: string, code: string): PolicyProblem {
  return { path: [], line, col, message, detail: message, code };
}
