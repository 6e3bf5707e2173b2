/**
 * Reading Envoy's fault headers (fault filter, "Controlling fault injection via HTTP headers")
 * for the faults that honour them through their `headerOverride` hook.
 */

const PREFIX = 'x-envoy-fault-';

/** `x-envoy-fault-<name>` as a whole number in [min, max]; undefined when absent or out of range. */
export function envoyInteger(headers: Record<string, string>, name: string, min: number, max: number): number | undefined {
  const value = headers[`${PREFIX}${name}`];
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

/** `x-envoy-fault-<name>-percentage` as a probability, never above `cap` (the rule's). */
export function envoyPercentage(headers: Record<string, string>, name: string, cap: number): number {
  const value = headers[`${PREFIX}${name}-percentage`];
  const n = value === undefined ? NaN : Number(value.trim());
  return Number.isFinite(n) && n >= 0 ? Math.min(n / 100, cap) : cap;
}
