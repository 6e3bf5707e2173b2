import type { CompiledFault } from '../policy/compile.js';

/** A fault's options and probability as Envoy's x-envoy-fault-* request headers set them. */
export interface HeaderOverride {
  options: object;
  probability: number;
}

const PREFIX = 'x-envoy-fault-';

function integer(value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

function percentage(headers: Record<string, string>, name: string, cap: number): number {
  const value = headers[`${PREFIX}${name}-percentage`];
  const n = value === undefined ? NaN : Number(value.trim());
  return Number.isFinite(n) && n >= 0 ? Math.min(n / 100, cap) : cap;
}

/**
 * Envoy's fault headers (fault filter, "Controlling fault injection via HTTP headers"), for a
 * rule that opted in with `allowHeaderOverrides: true`. A header changes only the fault of its
 * kind in the rule, and only within the rule's own limits: a delay no longer than the rule's, a
 * throughput no lower than the rule's rate, a percentage no higher than the rule's probability.
 * Returns undefined when no header for this fault is present (the rule applies as written).
 */
export function envoyOverride(fault: CompiledFault, headers: Record<string, string>): HeaderOverride | undefined {
  const options = fault.options as Record<string, unknown>;
  switch (fault.type.type) {
    case 'http_abort': {
      const status = integer(headers[`${PREFIX}abort-request`], 200, 599);
      const grpcStatus = integer(headers[`${PREFIX}abort-grpc-request`], 0, 16);
      if (status === undefined && grpcStatus === undefined) return undefined;
      const next = { ...options, ...(status !== undefined ? { status, statuses: undefined } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}) };
      const name = status !== undefined ? 'abort-request' : 'abort-grpc-request';
      return { options: next, probability: percentage(headers, name, fault.probability) };
    }
    case 'http_delay': {
      const ms = integer(headers[`${PREFIX}delay-request`], 0, 1e9);
      if (ms === undefined) return undefined;
      return { options: { ...options, delay: Math.min(ms, options.delay as number) }, probability: percentage(headers, 'delay-request', fault.probability) };
    }
    case 'http_throttle': {
      const kib = integer(headers[`${PREFIX}throughput-response`], 1, 1e9);
      if (kib === undefined) return undefined;
      return { options: { ...options, rate: Math.max(kib * 1024, options.rate as number) }, probability: percentage(headers, 'throughput-response', fault.probability) };
    }
    default:
      return undefined;
  }
}
