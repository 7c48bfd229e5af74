import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, tensor, type Tensor, type Value } from '../src/index.js';

/** Plain Gaussian elimination with partial pivoting, one system. */
function solveRef(a: number[][], b: number[]): number[] {
  const n = a.length;
  const m = a.map((r, i) => [...r, b[i]!]);
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(m[r]![i]!) > Math.abs(m[p]![i]!)) p = r;
    [m[i], m[p]] = [m[p]!, m[i]!];
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = m[r]![i]! / m[i]![i]!;
      for (let c = i; c <= n; c++) m[r]![c]! -= f * m[i]![c]!;
    }
  }
  return m.map((r, i) => r[n]! / r[i]!);
}

describe('solve above the unrolling size (one ONNX Loop over the pivot)', () => {
  const n = 24;
  const rng = new Rng(11);
  // a zero leading entry forces a row swap in the first step
  const A = rng.randn([2, n, n], 'float64');
  (A.data as Float64Array)[0] = 0;
  const b = rng.randn([2, n, 1], 'float64');

  it('matches a pivoting reference', async () => {
    const x = (await jit((A: Value, b: Value) => np.solve(A, b))(A, b)) as Tensor;
    const av = A.toArray();
    const bv = b.toArray();
    for (let k = 0; k < 2; k++) {
      const rows = Array.from({ length: n }, (_, i) => av.slice(k * n * n + i * n, k * n * n + (i + 1) * n));
      const ref = solveRef(rows, bv.slice(k * n, (k + 1) * n));
      ref.forEach((v, i) => expect(x.toArray()[k * n + i]).toBeCloseTo(v, 9));
    }
  });

  it('differentiates by its own rule (dX = A⁻¹(dB − dA X)) against finite differences', async () => {
    const f = (A: Value, b: Value) => np.sum(np.mul(np.solve(A, b), np.solve(A, b)));
    const g = (await grad(f)(A, b)) as Tensor;
    const jf = jit(f);
    const eps = 1e-6;
    for (const idx of [1, 37, 300]) {
      const plus = tensor(A.toArray(), 'float64', A.shape);
      const minus = tensor(A.toArray(), 'float64', A.shape);
      (plus.data as Float64Array)[idx]! += eps;
      (minus.data as Float64Array)[idx]! -= eps;
      const fd = (((await jf(plus, b)) as Tensor).item() - ((await jf(minus, b)) as Tensor).item()) / (2 * eps);
      expect(g.toArray()[idx]).toBeCloseTo(fd, 4);
    }
  });
});
