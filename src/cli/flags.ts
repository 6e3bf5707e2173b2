import { InvalidArgumentError } from 'commander';
import { parseUnitFlag } from '../policy/units.js';

/**
 * Parsers for flag values, run by commander as it reads the command line: a bad value is a usage
 * error (exit 2) naming the flag, before the command does anything. Durations and sizes use the
 * policy's own units (one parser per format, in src/policy/units.ts).
 */

function unitFlag(kind: 'duration' | 'size'): (value: string) => number {
  return (value) => {
    const parsed = parseUnitFlag(kind, value);
    if (typeof parsed !== 'number') throw new InvalidArgumentError(`${parsed.problem}.`);
    return parsed;
  };
}

/** A duration in milliseconds ("5s", "250ms", "1m30s", or a number of ms). */
export const durationFlag = unitFlag('duration');
/** A size in bytes ("64KiB", "1MiB", or a number of bytes). */
export const sizeFlag = unitFlag('size');

/** A whole number within [min, max]. */
export function integerFlag(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return Number(value);
  };
}

/** A TCP/UDP port, 0 (any free port) to 65535. */
export const portFlag = integerFlag(0, 65535);

/** A probability, 0 to 1. */
export function probabilityFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a probability from 0 to 1 (e.g. 0.3).');
  return n;
}
