/**
 * Backward modes against each other on a contractive tanh cell (float64): implicit gradients equal
 * backprop through the unrolled iterations once the forward solve has converged; Jacobian-free
 * (jfb) and phantom gradients are cheaper approximations that still point the same way.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, jit, np, Rng, Tensor, valueAndGrad, type BackwardMode, type SolverName, type Value } from '../src/index.js';
import { relErr } from './helpers/gradcheck.js';

const rng = new Rng(777);

/** Largest singular value by power iteration on WᵀW. */
function spectralNorm(W: Tensor): number {
  const [r, c] = W.shape as [number, number];
  const w = W.toArray();
  let v = Array.from({ length: c }, (_, i) => 1 + i / c);
  let s = 0;
  for (let it = 0; it < 500; it++) {
    const u = Array.from({ length: r }, (_, i) => v.reduce((a, vj, j) => a + w[i * c + j]! * vj, 0));
    const wtu = Array.from({ length: c }, (_, j) => u.reduce((a, ui, i) => a + w[i * c + j]! * ui, 0));
    const nrm = Math.hypot(...wtu);
    s = Math.sqrt(nrm);
    v = wtu.map((x) => x / nrm);
  }
  return s;
}
const withNorm = (W: Tensor, target: number): Tensor => {
  const s = spectralNorm(W);
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

  it('the power iteration gives the requested spectral norm', () => {
    expect(spectralNorm(W)).toBeCloseTo(0.6, 10);
  });

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
