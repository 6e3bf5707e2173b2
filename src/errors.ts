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
  /** The field the problem is about (`path`, plus the key when the problem is a key), and the message without it. */
  field?: (string | number)[];
  detail?: string;
  /** Set when the problem is of a kind callers act on: FL_ERR_LISTEN (an address that cannot be bound). */
  code?: string;
}

/** A YAML document (a policy, an experiment) failed to parse or validate; `problems` are in file order. */
export class PositionedError extends FaultlineError {
  readonly file: string;
  readonly problems: PolicyProblem[];
  constructor(code: string, file: string, problems: PolicyProblem[]) {
    super(code, problems.map((p) => `${file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
    this.name = 'PositionedError';
    this.file = file;
    this.problems = problems;
  }

  /** `FILE:LINE:COL: message` lines, the format `faultline validate` prints. */
  lines(): string[] {
    return this.problems.map((p) => `${this.file}:${p.line}:${p.col}: ${p.message}`);
  }
}

/** A policy failed to parse or validate. */
export class PolicyError extends PositionedError {
  constructor(file: string, problems: PolicyProblem[]) {
    super('FL_ERR_POLICY_INVALID', file, problems);
    this.name = 'PolicyError';
  }
}

/** An experiment file failed to parse or validate. */
export class ExperimentFileError extends PositionedError {
  constructor(file: string, problems: PolicyProblem[]) {
    super('FL_ERR_EXPERIMENT_INVALID', file, problems);
    this.name = 'ExperimentFileError';
  }
}

/** The policy file cannot be read at start (missing, not readable). */
export class PolicyFileError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_POLICY_FILE', message, options);
    this.name = 'PolicyFileError';
  }
}

/** A listener could not be bound (port in use, bad address). */
export class ListenError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_LISTEN', message, options);
    this.name = 'ListenError';
  }
}

/** The upstream did not accept a connection within the connect timeout. */
export class ConnectTimeoutError extends FaultlineError {
  constructor(ms: number) {
    super('FL_ERR_CONNECT_TIMEOUT', `connect timeout after ${ms} ms`);
    this.name = 'ConnectTimeoutError';
  }
}

/** A file or stream a command reads cannot be used: unreadable, not YAML, an object faultline refuses. */
export class InputError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_INPUT', message, options);
    this.name = 'InputError';
  }
}

/** A command-line argument is malformed. */
export class UsageError extends FaultlineError {
  constructor(message: string) {
    super('FL_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** A pod annotation has a value faultline refuses; the message names the annotation and the value. */
export class AnnotationError extends FaultlineError {
  readonly annotation: string;
  constructor(annotation: string, value: string, why: string) {
    super('FL_ERR_ANNOTATION', `annotation ${annotation}: ${JSON.stringify(value)} ${why}`);
    this.name = 'AnnotationError';
    this.annotation = annotation;
  }
}

/** A request to the admission webhook is not an AdmissionReview v1 we can answer (HTTP 400). */
export class AdmissionReviewError extends FaultlineError {
  constructor(message: string) {
    super('FL_ERR_ADMISSION_REVIEW', message);
    this.name = 'AdmissionReviewError';
  }
}

/** The native SO_ORIGINAL_DST helper is not built, so transparent interception cannot run. */
export class NativeHelperMissingError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_NATIVE_HELPER_MISSING', message, options);
    this.name = 'NativeHelperMissingError';
  }
}

/** An iptables/ip6tables command failed; the message holds the command and its stderr. */
export class IptablesError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_IPTABLES', message, options);
    this.name = 'IptablesError';
  }
}

/** One item of a flag or annotation value is invalid (a port, a CIDR); `item` and `reason` say which and why. */
export class InvalidValueError extends UsageError {
  readonly item: string;
  readonly reason: string;
  constructor(what: string, item: string, reason: string, expected: string) {
    super(`${what}: ${JSON.stringify(item)} ${reason}; expected ${expected}`);
    this.name = 'InvalidValueError';
    this.item = item;
    this.reason = reason;
  }
}

/**
 * An HTTP request to the admin or Toxiproxy API that cannot be served as sent: `status` is the
 * answer (400 malformed, 401/403 auth, 404, 409, 413 too large) and `error` a stable short code.
 */
/** A request faultline sent itself (a mirror's shadow request) got no usable answer. */
export class ShadowError extends FaultlineError {
  constructor(message: string, options?: ErrorOptions) {
    super('FL_ERR_SHADOW', message, options);
    this.name = 'ShadowError';
  }
}

export class RequestError extends FaultlineError {
  readonly status: number;
  readonly error: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(status: number, error: string, message: string, details?: Record<string, unknown>) {
    super('FL_ERR_REQUEST', message);
    this.name = 'RequestError';
    this.status = status;
    this.error = error;
    this.details = details;
  }
}

/** A target (a sidecar's admin API, a policy ConfigMap) refused or failed a change. */
export class TargetError extends FaultlineError {
  readonly target: string;
  constructor(target: string, message: string, options?: { cause?: unknown }) {
    super('FL_ERR_TARGET', `target ${target}: ${message}`, options);
    this.name = 'TargetError';
    this.target = target;
  }
}

/**
 * The Kubernetes API server refused or failed a call (401, 403, 404, 409, 503...) or could not be
 * reached (`status` 0). The message is one line saying what was refused and why, in the API
 * server's own words where it gave them (a 403 names the resource and the verb).
 */
export class KubeApiError extends FaultlineError {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super('FL_ERR_KUBE_API', message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

/** A fleet command reached some pods but not all (or none): the per-pod results say which. */
export class FleetError extends FaultlineError {
  constructor(message: string) {
    super('FL_ERR_FLEET', message);
    this.name = 'FleetError';
  }
}

/** The TLS CA (--tls-ca-cert/--tls-ca-key) cannot be used: unreadable, not a CA, a key that is not its own. */
export class TlsCaError extends FaultlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FL_ERR_TLS_CA', message, options);
    this.name = 'TlsCaError';
  }
}

/** The upstream of a terminated TLS connection failed its handshake or its certificate's verification. */
export class UpstreamTlsError extends FaultlineError {
  /** The verification's own code (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT...) or the TLS error's. */
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super('FL_ERR_UPSTREAM_TLS', message, options);
    this.name = 'UpstreamTlsError';
    this.reason = reason;
  }
}

/**
 * An HTTP/2 peer broke the protocol in a way a relay cannot pass on (a malformed frame, a
 * header block that does not decode, a limit exceeded): its connection ends with GOAWAY
 * carrying `h2Code` (RFC 9113 7: PROTOCOL_ERROR 1, FRAME_SIZE_ERROR 6, COMPRESSION_ERROR 9...).
 */
export class Http2ProtocolError extends FaultlineError {
  constructor(readonly h2Code: number, message: string) {
    super('FL_ERR_HTTP2_PROTOCOL', message);
    this.name = 'Http2ProtocolError';
  }
}
