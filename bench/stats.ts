/** Small statistics the benchmarks share. */

/**
 * The middle of xs sorted: the upper of the two middle values for an even count, as
 * bench/torch_peer.py's `sorted(xs)[n // 2]`, so that the peers' medians are taken alike.
 */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** The median of the finite values, the mean of the two middle ones for an even count; NaN when there are none. */
export function finiteMedian(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The process's peak resident set so far, in MB. */
export const rssMB = (): number => process.resourceUsage().maxRSS / 1024;
