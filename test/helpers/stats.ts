/** Median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The interval that holds the number of successes of `n` trials at probability `p` with the
 * given confidence (normal approximation, z = 3.29 for 99.9%).
 */
export function binomialInterval(n: number, p: number, z = 3.29): [number, number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(mean - z * sd), Math.ceil(mean + z * sd)];
}
