/**
 * Every error faultline raises on purpose is a FaultlineError with a stable `code`, so that
 * callers (and tests) branch on the code, never on the message. Context goes in `{ cause }`.
 */
export class FaultlineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FaultlineError';
    this.code = code;
  }
}

/** One problem found in a policy, pinned to where it is in the file. */
export interface PolicyProblem {
  /** Path inside the document, e.g. ['spec', 'rules', 0, 'faults', 1, 'latency']. */
  path: (string | number)[];
  message: string;
  line: number;
  col: number;
}

/** A policy failed to parse or validate; `problems` are ordered by position in the file. */
export class PolicyError extends FaultlineError {
  readonly file: string;
  readonly problems: PolicyProblem[];
  constructor(file: string, problems: PolicyProblem[]) {
    super('FL_ERR_POLICY_INVALID', problems.map((p) => `${file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
    this.name = 'PolicyError';
    this.file = file;
    this.problems = problems;
  }

  /** `FILE:LINE:COL: message` lines, the format `faultline validate` prints. */
  lines(): string[] {
    return this.problems.map((p) => `${this.file}:${p.line}:${p.col}: ${p.message}`);
  }
}

/** A listener could not be bound (port in use, bad address). */
export class ListenError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_LISTEN', message, options);
    this.name = 'ListenError';
  }
}

/** A command-line argument is malformed. */
export class UsageError extends FaultlineError {
  constructor(message: string) {
    super('FL_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** Parses `HOST:PORT` (`[::1]:80` for IPv6); port 0 means "pick a free port". */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${what}: expected HOST:PORT (e.g. 127.0.0.1:15000), got "${value}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
