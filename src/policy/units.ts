import { z } from 'zod';
import { UsageError } from '../errors.js';

/**
 * Units users write in policies: durations ("250ms", "1.5s", "2m", or a number of ms), byte
 * sizes ("64KiB", "1MB", or a number of bytes) and rates ("64KiB/s", "1MiB/s", "512kbps").
 */

const DURATION_UNITS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1000, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};
const BIT_RATE_UNITS: Record<string, number> = { bps: 1 / 8, kbps: 1000 / 8, mbps: 1e6 / 8, gbps: 1e9 / 8 };

/** Milliseconds from "250ms", "1.5s", "1m30s" or a number (ms); undefined when malformed. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(-?\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

/** Bytes from "64KiB", "1MB", "512" or a number; undefined when malformed. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase() || 'b';
  const factor = SIZE_UNITS[unit];
  return factor === undefined ? undefined : Number(m[1]) * factor;
}

/** Bytes per second from "64KiB/s", "1MiB/s", "8mbps" or a number (bytes/s). */
export function parseRate(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  const bits = /^(\d+(?:\.\d+)?)\s*([kmg]?bps)$/i.exec(text);
  if (bits) return Number(bits[1]) * (BIT_RATE_UNITS[(bits[2] as string).toLowerCase()] as number);
  const perSecond = /^(.*?)\s*\/\s*s$/.exec(text);
  return parseSize(perSecond ? (perSecond[1] as string) : text);
}

/**
 * The longest duration anything takes, in ms: Node's timers hold 2^31 - 1 ms (about 24.8 days);
 * a longer one would fire after 1 ms, again and again.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * A duration flag's value in ms (the same syntax as policies: "5s", "250ms", or a number of ms),
 * or a UsageError (exit 2) naming the flag when it is malformed or outside [minMs, maxMs].
 */
export function durationFlag(value: string, flag: string, range: { minMs?: number; maxMs?: number } = {}): number {
  const { minMs = 0, maxMs = MAX_DURATION_MS } = range;
  const parsed = parseUnitFlag('duration', value);
  if (typeof parsed !== 'number' || parsed < minMs || parsed > maxMs) {
    throw new UsageError(`${flag}: "${value}" must be a duration from ${formatMs(minMs)} to ${formatMs(maxMs)}, e.g. 5s or 250ms`);
  }
  return parsed;
}

/** A byte-size flag's value ("64KiB", "1MiB", a number of bytes), or a UsageError naming the flag. */
export function sizeFlag(value: string, flag: string, range: { min?: number; max?: number } = {}): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = range;
  const parsed = parseUnitFlag('size', value);
  if (typeof parsed !== 'number' || parsed < min || parsed > max) throw new UsageError(`${flag}: "${value}" must be a size from ${min} to ${max} bytes, e.g. 64KiB or 1MiB`);
  return parsed;
}

/** "0", "250ms", "3s", "1h": the largest unit that divides evenly, for messages. */
function formatMs(ms: number): string {
  for (const [unit, factor] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms >= factor && ms % factor === 0) return `${ms / factor}${unit}`;
  return ms === 0 ? '0' : `${ms}ms`;
}

function unit(parse: (v: string | number) => number | undefined, what: string, example: string, min: number, max = Number.MAX_VALUE, tooLarge = '') {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const parsed = parse(value);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid ${what} ${JSON.stringify(value)} (write e.g. ${example})` });
      return z.NEVER;
    }
    if (parsed < min) {
      ctx.addIssue({ code: 'custom', message: `${what} must not be negative, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    if (parsed > max) {
      ctx.addIssue({ code: 'custom', message: `${what} ${JSON.stringify(value)} is too large: ${tooLarge}` });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A non-negative duration, in milliseconds once parsed. */
export const duration = unit(parseDuration, 'duration', '"250ms", "1.5s" or 100', 0, MAX_DURATION_MS, 'at most 2147483647ms (about 24.8 days)');
/** A non-negative byte count. */
export const size = unit(parseSize, 'size', '"64KiB", "1MiB" or 4096', 0);
/** A positive rate in bytes per second. */
export const rate = unit(parseRate, 'rate', '"64KiB/s", "1MiB/s" or "8mbps"', 0).refine((v) => v > 0, 'rate must be greater than 0');
/** A probability in [0, 1]. */
export const probability = z.number().min(0, 'probability must be within [0, 1]').max(1, 'probability must be within [0, 1]');

/**
 * A command-line duration or size in the policy's own units ("5s", "250ms", "64KiB", or a plain
 * number of ms or bytes), non-negative: the number, or a one-line reason it is refused.
 */
export function parseUnitFlag(kind: 'duration' | 'size', value: string): number | { problem: string } {
  const parsed = (kind === 'duration' ? parseDuration : parseSize)(value);
  const example = kind === 'duration' ? '"5s", "250ms" or 1000 (ms)' : '"64KiB", "1MiB" or 4096 (bytes)';
  if (parsed === undefined) return { problem: `not a ${kind}; write e.g. ${example}` };
  return parsed < 0 ? { problem: `a ${kind} must not be negative` } : parsed;
}
