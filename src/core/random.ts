import type { DType } from './dtype.js';
import { type Shape, Tensor } from './tensor.js';

/** A small seeded PRNG (mulberry32) so that inits, shuffles and tests are reproducible. */
export class Rng {
  private state: number;
  constructor(seed = 0) { this.state = (seed >>> 0) ^ 0x9e3779b9; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  }
  randn(shape: Shape, dtype: DType = 'float32', std = 1, mean = 0): Tensor {
    const t = new Tensor(dtype, shape);
    const d = t.data as Float64Array;
    for (let i = 0; i < d.length; i++) d[i] = mean + std * this.normal();
    return t;
  }
  uniform(shape: Shape, dtype: DType = 'float32', lo = 0, hi = 1): Tensor {
    const t = new Tensor(dtype, shape);
    const d = t.data as Float64Array;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * this.next();
    return t;
  }
}
