/**
 * Jacobian regularisation: Hutchinson's estimate of ‖∂f/∂z‖²_F / N against the exact Frobenius norm
 * of dense Jacobians (the tanh cell's written out by hand, the ResNet cell's by finite differences),
 * its spread against the estimator's known variance, and its gradient against finite differences.
 */
import { describe, expect, it } from 'vitest';
import {
  DTypeError, fixedPoint, grad, jacobianNoise, jacobianPenalty, jit, np, Rng, ShapeError, Tensor, zeros, type Value,
} from '../src/index.js';
import { resNetCell, type ResNetCellParams } from '../src/nn/index.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';

const rng = new Rng(4242);
const f64 = (shape: number[], std = 1) => rng.randn(shape, 'float64', std);

const tanhCell = (z: Value, x: Value, p: { W: Value }) => np.tanh(np.add(np.matmul(z, p.W), x));

/** The tanh cell's Jacobian, by hand: y = tanh(z W + x), ∂y[b,j]/∂z[b,i] = (1 − y[b,j]²) W[i,j]. */
function tanhJacobian(z: Tensor, x: Tensor, W: Tensor): number[][] {
  const [B, n] = z.shape as [number, number];
  const zv = z.toArray(), xv = x.toArray(), Wv = W.toArray();
  const N = B * n;
  const J = Array.from({ length: N }, () => new Array<number>(N).fill(0));
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < n; j++) {
      let s = xv[b * n + j]!;
      for (let i = 0; i < n; i++) s += zv[b * n + i]! * Wv[i * n + j]!;
      const d = 1 - Math.tanh(s) ** 2;
      for (let i = 0; i < n; i++) J[b * n + j]![b * n + i] = d * Wv[i * n + j]!;
    }
  }
  return J;
}

/** Dense Jacobian of a jitted map by central differences, one input coordinate at a time. */
async function fdJacobian(fn: (z: Tensor) => Promise<Tensor>, z: Tensor, eps = 1e-6): Promise<number[][]> {
  const base = z.toArray();
  const N = base.length;
  const J = Array.from({ length: N }, () => new Array<number>(N).fill(0));
  for (let i = 0; i < N; i++) {
    const at = (d: number) => new Tensor('float64', z.shape, Float64Array.from(base, (v, k) => (k === i ? v + d : v)));
    const plus = (await fn(at(eps))).toArray();
    const minus = (await fn(at(-eps))).toArray();
    for (let j = 0; j < N; j++) J[j]![i] = (plus[j]! - minus[j]!) / (2 * eps);
  }
  return J;
}

const frobenius2 = (J: number[][]) => J.reduce((s, row) => s + row.reduce((t, v) => t + v * v, 0), 0);

/** Probes √N eₖ (k = 1..N): their mean of ε εᵀ is exactly I, so the estimate is exactly ‖J‖²_F / N. */
function scaledBasis(zShape: number[]): Tensor {
  const N = zShape.reduce((a, b) => a * b, 1);
  const t = new Tensor('float64', [N, ...zShape]);
  for (let k = 0; k < N; k++) (t.data as Float64Array)[k * N + k] = Math.sqrt(N);
  return t;
}

/** Single-probe variance of εᵀAε / N (A = J Jᵀ): Gaussian 2‖A‖²_F, Rademacher 2(‖A‖²_F − Σ Aᵢᵢ²). */
function probeVariance(J: number[][], dist: 'gaussian' | 'rademacher'): number {
  const N = J.length;
  let fro = 0, diag = 0;
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < N; k++) {
      let a = 0;
      for (let j = 0; j < N; j++) a += J[i]![j]! * J[k]![j]!;
      fro += a * a;
      if (i === k) diag += a * a;
    }
  }
  return (2 * (dist === 'gaussian' ? fro : fro - diag)) / (N * N);
}

describe('jacobianPenalty: the estimate', () => {
  const z = f64([2, 4]);
  const x = f64([2, 4]);
  const W = f64([4, 4], 0.6);
  const exact = frobenius2(tanhJacobian(z, x, W)) / 8;
  const penalty = jit((z: Value, x: Value, W: Value, noise: Value) => jacobianPenalty(tanhCell, z, [x, { W }], { noise }));

  it('is exactly ‖J‖²_F / N for probes whose second moment is exactly I (tanh cell, Jacobian by hand)', async () => {
    const est = (await penalty(z, x, W, scaledBasis([2, 4]))).item();
    expect(Math.abs(est - exact) / exact).toBeLessThan(1e-12);
  });

  // 2,000 probes in 40 calls of 50: the mean must be within 4 standard deviations of the exact
  // value (σ from the estimator's variance, computed from the exact Jacobian), and the spread of the
  // 40 call means must match that variance within the range a 40-sample variance allows.
  for (const dist of ['rademacher', 'gaussian'] as const) {
    it(`${dist} probes: the mean of 2,000 estimates matches the exact norm within 4σ`, async () => {
      const calls = 40, per = 50;
      const noiseRng = new Rng(dist === 'gaussian' ? 11 : 12);
      const means: number[] = [];
      for (let c = 0; c < calls; c++) means.push((await penalty(z, x, W, jacobianNoise(noiseRng, [2, 4], { samples: per, distribution: dist, dtype: 'float64' }))).item());
      const mean = means.reduce((a, b) => a + b, 0) / calls;
      const sigma1 = Math.sqrt(probeVariance(tanhJacobian(z, x, W), dist));
      const sigmaMean = sigma1 / Math.sqrt(calls * per);
      expect(Math.abs(mean - exact)).toBeLessThan(4 * sigmaMean);
      const spread = means.reduce((a, m) => a + (m - mean) ** 2, 0) / (calls - 1);
      const ratio = spread / (sigma1 ** 2 / per);
      expect(ratio).toBeGreaterThan(0.4);
      expect(ratio).toBeLessThan(2.5);
    });
  }

  it('the ResNet cell: the exact-moment probes give ‖J‖²_F / N of its finite-difference Jacobian', async () => {
    const p = resNetParams();
    const zr = f64([2, 2, 3, 3]);
    const xr = f64([2, 2, 3, 3]);
    const cell = (z: Value, x: Value, q: ResNetCellParams) => resNetCell(z, x, q, { groups: 2 });
    const apply = jit((z: Value) => cell(z, xr, p));
    const J = await fdJacobian((t) => apply(t) as Promise<Tensor>, zr);
    const est = (await jit((z: Value, noise: Value) => jacobianPenalty(cell, z, [xr, p], { noise }))(zr, scaledBasis([2, 2, 3, 3]))).item();
    const want = frobenius2(J) / 36;
    expect(want).toBeGreaterThan(0.01);
    expect(Math.abs(est - want) / want).toBeLessThan(1e-7);
  });
});

/** A small ResNet cell in float64 with weights large enough that its Jacobian is far from zero. */
function resNetParams(): ResNetCellParams<Tensor> {
  const aff = () => ({ scale: rng.uniform([2], 'float64', 0.5, 1.5), shift: f64([2], 0.3) });
  return { conv1: { W: f64([4, 2, 3, 3], 0.4) }, conv2: { W: f64([2, 4, 3, 3], 0.4) }, norm1: { scale: rng.uniform([4], 'float64', 0.5, 1.5), shift: f64([4], 0.3) }, norm2: aff(), norm3: aff() };
}

describe('jacobianPenalty: its gradient (float64, against central differences)', () => {
  it('tanh cell: with respect to W, x and z*', async () => {
    const noise = jacobianNoise(rng, [3, 4], { samples: 2, dtype: 'float64' });
    const pen = (W: Value, x: Value, z: Value) => jacobianPenalty(tanhCell, z, [x, { W }], { noise });
    await expectGradsOk(pen, [f64([4, 4], 0.6), f64([3, 4]), f64([3, 4])], { directions: 3 });
  });

  it('ResNet cell: with respect to every parameter, x and z*', async () => {
    const p = resNetParams();
    const noise = jacobianNoise(rng, [1, 2, 3, 3], { samples: 2, dtype: 'float64', distribution: 'gaussian' });
    const pen = (c1: Value, c2: Value, s1: Value, h1: Value, s2: Value, h2: Value, s3: Value, h3: Value, x: Value, z: Value) =>
      jacobianPenalty((zz: Value, xx: Value, q: ResNetCellParams) => resNetCell(zz, xx, q, { groups: 2 }), z, [x, {
        conv1: { W: c1 }, conv2: { W: c2 }, norm1: { scale: s1, shift: h1 }, norm2: { scale: s2, shift: h2 }, norm3: { scale: s3, shift: h3 },
      }], { noise });
    await expectGradsOk(pen, [
      p.conv1.W, p.conv2.W, p.norm1.scale, p.norm1.shift, p.norm2.scale, p.norm2.shift, p.norm3.scale, p.norm3.shift,
      f64([1, 2, 3, 3]), f64([1, 2, 3, 3]),
    ], { directions: 2, tol: 1e-5 });
  });

  it('at the fixed point of a solve: treating z* as a constant, and through the solve by the implicit function theorem', async () => {
    const noise = jacobianNoise(rng, [3, 4], { samples: 2, dtype: 'float64' });
    const x = f64([3, 4]);
    const solve = (W: Value) => fixedPoint(tanhCell, np.zerosLike(x), [x, { W }], { tol: 1e-13, maxIter: 100, backwardTol: 1e-13, backwardMaxIter: 100 }).value;
    const detached = (W: Value) => jacobianPenalty(tanhCell, np.stopGradient(solve(W)), [x, { W }], { noise });
    const through = (W: Value) => jacobianPenalty(tanhCell, solve(W), [x, { W }], { noise });
    const W = f64([4, 4], 0.3);
    await expectGradsOk(through, [W], { directions: 2, tol: 1e-6 });
    // with z* held constant the gradient is the cell's alone: that of the penalty at a constant z*
    const zStar = (await jit(solve)(W)) as Tensor;
    const gHeld = (await jit(grad(detached))(W)) as Tensor;
    const gConst = (await jit(grad((W: Value) => jacobianPenalty(tanhCell, zStar, [x, { W }], { noise })))(W)) as Tensor;
    const gFull = (await jit(grad(through))(W)) as Tensor;
    expect(relErr(gHeld, gConst)).toBeLessThan(1e-10);
    expect(relErr(gHeld, gFull)).toBeGreaterThan(1e-3);
  });
});

describe('jacobianPenalty: inputs', () => {
  it('noise of the wrong shape or dtype is a typed error naming the fix', async () => {
    const call = (noise: Tensor) => jit((z: Value, n: Value) => jacobianPenalty(tanhCell, z, [z, { W: zeros([4, 4]) }], { noise: n }))(zeros([3, 4]), noise);
    await expect(call(zeros([3, 4]))).rejects.toThrow(ShapeError);
    await expect(call(zeros([2, 3, 5]))).rejects.toThrow(/must be \[samples, 3, 4\].*jacobianNoise/);
    await expect(call(zeros([2, 3, 4], 'float64'))).rejects.toThrow(DTypeError);
    expect(() => jacobianNoise(rng, [3], { samples: 0 })).toThrow(/positive integer/);
  });

  it('jacobianNoise: ±1 Rademacher entries by default, reproducible from the seed', () => {
    const a = jacobianNoise(new Rng(5), [4, 5], { samples: 3 });
    const b = jacobianNoise(new Rng(5), [4, 5], { samples: 3 });
    expect(a.shape).toEqual([3, 4, 5]);
    expect(a.toArray()).toEqual(b.toArray());
    expect(a.toArray().every((v) => v === 1 || v === -1)).toBe(true);
    expect(new Set(a.toArray()).size).toBe(2);
    const g = jacobianNoise(new Rng(5), [1000], { distribution: 'gaussian', dtype: 'float64' }).toArray();
    const m = g.reduce((s, v) => s + v, 0) / g.length;
    const v = g.reduce((s, u) => s + (u - m) ** 2, 0) / g.length;
    expect(Math.abs(m)).toBeLessThan(0.1);
    expect(Math.abs(v - 1)).toBeLessThan(0.15);
  });
});
