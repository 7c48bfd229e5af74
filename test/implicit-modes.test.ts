/**
 * Backward modes against each other on a contractive tanh cell (float64): implicit gradients equal
 * backprop through the unrolled iterations once the forward solve has converged; Jacobian-free
 * (jfb) and phantom gradients are cheaper approximations that still point the same way.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, jit, np, Rng, Tensor, valueAndGrad, type BackwardMode, type SolverName, type Value } from '../src/index.js';
import { relErr } from './helpers/gradcheck.js';
import { largestSingularValue } from './helpers/linalg.js';
import { relDist, rows, tanhCellRef, tanhFixedPointRef } from './helpers/tanh-deq.js';

const rng = new Rng(777);

/** W scaled to spectral norm `target` (its exact largest singular value, by Jacobi rotations): a `target`-contraction for tanh(zW + x). */
const withNorm = (W: Tensor, target: number): Tensor => {
  const s = largestSingularValue(W);
  return new Tensor('float64', W.shape, Float64Array.from(W.toArray(), (v) => (v * target) / s));
};

const flat = (ts: Tensor[]) => ts.flatMap((t) => t.toArray());
function cosine(a: Tensor[], b: Tensor[]): number {
  const x = flat(a);
  const y = flat(b);
  const d = x.reduce((s, v, i) => s + v * y[i]!, 0);
  return d / (Math.hypot(...x) * Math.hypot(...y));
}

const n = 8;
const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));
const x = rng.randn([4, n], 'float64');
const r = rng.randn([4, n], 'float64');

async function gradsOf(W: Tensor, backward: BackwardMode, solver: SolverName, maxIter: number): Promise<{ grads: Tensor[]; converged: boolean }> {
  const loss = (x: Value, W: Value) => {
    const { value, stats } = fixedPoint(cell, np.zerosLike(x), [x, W], {
      solver, tol: 1e-13, maxIter, backward, backwardTol: 1e-13, backwardMaxIter: 300,
    });
    return [np.sum(np.mul(value, r)), stats.converged];
  };
  const [[, conv], grads] = (await jit(valueAndGrad(loss, { argnums: [0, 1], hasAux: true }))(x, W)) as [[Tensor, Tensor], Tensor[]];
  return { grads, converged: conv.item() === 1 };
}

describe('implicit vs unrolled gradients', () => {
  const W = withNorm(rng.randn([n, n], 'float64'), 0.6);

  // Anderson converges in far fewer steps, and each unrolled step carries a small dense solve
  for (const [solver, steps] of [['forward', 80], ['anderson', 30]] as const) {
    it(`${solver}: unrolled gradients approach the implicit ones as the unrolled solve converges`, async () => {
      const implicit = await gradsOf(W, 'implicit', solver, 200);
      expect(implicit.converged).toBe(true);
      const short = await gradsOf(W, 'unrolled', solver, 4);
      const long = await gradsOf(W, 'unrolled', solver, steps);
      expect(short.converged).toBe(false);
      expect(long.converged).toBe(true);
      const errShort = Math.max(...short.grads.map((g, i) => relErr(g, implicit.grads[i]!)));
      const errLong = Math.max(...long.grads.map((g, i) => relErr(g, implicit.grads[i]!)));
      expect(errLong).toBeLessThan(1e-9);
      expect(errShort).toBeGreaterThan(100 * errLong); // the agreement comes from convergence, not by construction
    });
  }
});

describe('jfb and phantom gradients', () => {
  const W = withNorm(rng.randn([n, n], 'float64'), 0.3);

  it('are finite and point the way of the implicit gradient (cosine > 0.9) on a strongly contractive cell', async () => {
    const implicit = await gradsOf(W, 'implicit', 'anderson', 200);
    for (const mode of ['jfb', { phantom: 5 }, { phantom: 3, damping: 1 }] as BackwardMode[]) {
      const approx = await gradsOf(W, mode, 'anderson', 200);
      const vals = flat(approx.grads);
      expect(vals.every(Number.isFinite), JSON.stringify(mode)).toBe(true);
      const c = cosine(approx.grads, implicit.grads);
      expect(c, JSON.stringify(mode)).toBeGreaterThan(0.9);
      expect(c, JSON.stringify(mode)).toBeLessThan(1 - 1e-8); // an approximation, not the implicit gradient
    }
  });
});

/**
 * The defining formulas, in plain float64 JS on z* found by Newton's method: jfb is the gradient of
 * ⟨r, f(z*, x, W)⟩ with z* held constant; phantom(k, λ) backpropagates through k damped steps
 * z ← (1 − λ) z + λ f(z, x, W) started from z* held constant.
 */
describe('jfb and phantom gradients against their definitions', () => {
  const W = withNorm(rng.randn([n, n], 'float64'), 0.5);
  const w = W.toArray();
  const xs = rows(x.toArray(), n);
  const rs = rows(r.toArray(), n);
  const zStar = xs.map((xb) => tanhFixedPointRef(xb, w));

  /** [∂/∂x, ∂/∂W] of ⟨r, z_k⟩ through k damped steps from z* (k = 1, λ = 1 is jfb). */
  function phantomRef(k: number, lam: number): [number[], number[]] {
    const gx: number[] = [];
    const gW = new Array<number>(n * n).fill(0);
    xs.forEach((xb, b) => {
      const zsteps = [zStar[b]!];
      for (let t = 0; t < k; t++) {
        const z = zsteps[t]!;
        const f = tanhCellRef(z, xb, w);
        zsteps.push(z.map((v, i) => (1 - lam) * v + lam * f[i]!));
      }
      let g = rs[b]!.slice();
      const gxb = new Array<number>(n).fill(0);
      for (let t = k - 1; t >= 0; t--) {
        const z = zsteps[t]!;
        const f = tanhCellRef(z, xb, w);
        const h = g.map((gi, i) => lam * gi * (1 - f[i]! ** 2)); // through tanh's pre-activation
        h.forEach((hi, i) => { gxb[i]! += hi; });
        for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) gW[j * n + i]! += z[j]! * h[i]!;
        g = g.map((gi, j) => (1 - lam) * gi + h.reduce((s, hi, i) => s + hi * w[j * n + i]!, 0));
      }
      gx.push(...gxb);
    });
    return [gx, gW];
  }

  const cases: [BackwardMode, number, number][] = [['jfb', 1, 1], [{ phantom: 5 }, 5, 0.8], [{ phantom: 3, damping: 1 }, 3, 1], [{ phantom: 2, damping: 0.5 }, 2, 0.5]];
  for (const [mode, k, lam] of cases) {
    it(`${JSON.stringify(mode)}: the gradient of ⟨r, z_${k}⟩ through ${k} step${k > 1 ? 's' : ''} of damping ${lam} from z* held constant`, async () => {
      const got = await gradsOf(W, mode, 'anderson', 200);
      expect(got.converged).toBe(true);
      const [gx, gW] = phantomRef(k, lam);
      expect(relDist(got.grads[0]!.toArray(), gx)).toBeLessThan(1e-10);
      expect(relDist(got.grads[1]!.toArray(), gW)).toBeLessThan(1e-10);
    });
  }
});
