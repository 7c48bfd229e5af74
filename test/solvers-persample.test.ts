/**
 * Per-sample solve statistics (perSample: true): each sample's iterations to reach the tolerance
 * and its relative residual then, from one batched solve, against solving each sample alone, in
 * float64 so the iterates agree to rounding.
 */
import { describe, expect, it } from 'vitest';
import { type ConcreteStats, fixedPoint, jit, np, readStats, Rng, Tensor, type FixedPointOptions, type SolveReport, type Value } from '../src/index.js';

const B = 9;
const n = 16;
const rng = new Rng(99);
const W = rng.randn([n, n], 'float64', 1.2 / Math.sqrt(n));
// samples of very different scale converge at different speeds
const X = new Tensor('float64', [B, n], Float64Array.from(rng.randn([B, n], 'float64').data as Float64Array, (v, i) => v * (0.2 + Math.floor(i / n) * 0.6)));
const row = (i: number) => new Tensor('float64', [1, n], (X.data as Float64Array).slice(i * n, (i + 1) * n));
const cell = (z: Value, x: Value, w: Value) => np.tanh(np.add(np.matmul(z, w), x));

const solve = (opts: FixedPointOptions) => jit((x: Value, w: Value) => fixedPoint(cell, np.zerosLike(x), [x, w], opts).stats);
const report = async (f: ReturnType<typeof solve>, x: Tensor): Promise<SolveReport> => readStats((await f(x, W)) as ConcreteStats);

describe('per-sample solve statistics', () => {
  for (const solver of ['forward', 'anderson'] as const) {
    it(`${solver}: one batched solve gives every sample the iterations and residual of its own solve`, async () => {
      const opts = { solver, tol: 1e-6, maxIter: 200, perSample: true };
      const f = solve(opts);
      const batched = await report(f, X);
      expect(batched.converged).toBe(true);
      const alone = await Promise.all(Array.from({ length: B }, (_, i) => report(f, row(i))));
      expect(batched.sampleIterations).toEqual(alone.map((r) => r.iterations));
      batched.sampleRelResidual!.forEach((r, i) => {
        expect(r).toBeLessThan(1e-6);
        expect(Math.abs(r - alone[i]!.relResidual)).toBeLessThan(1e-9 * Math.max(r, 1e-12) + 1e-18);
      });
      // the samples do differ, and the batch iterates until its slowest one is done
      expect(new Set(batched.sampleIterations).size).toBeGreaterThan(2);
      expect(batched.iterations).toBe(Math.max(...batched.sampleIterations!));
      expect(batched.relResidual).toBeLessThanOrEqual(Math.max(...batched.sampleRelResidual!));
    });
  }

  it('a sample that never reaches the tolerance reports every iteration and its residual then', async () => {
    const maxIter = 6;
    const f = solve({ solver: 'forward', tol: 1e-6, maxIter, perSample: true });
    const batched = await report(f, X);
    const alone = await Promise.all(Array.from({ length: B }, (_, i) => report(f, row(i))));
    expect(batched.converged).toBe(false);
    expect(batched.sampleIterations).toEqual(alone.map((r) => r.iterations));
    const open = batched.sampleRelResidual!.filter((r) => r >= 1e-6).length;
    expect(open).toBeGreaterThan(0);
    expect(batched.sampleIterations!.filter((k) => k === maxIter).length).toBeGreaterThanOrEqual(open);
  });

  it('the unrolled solve reports the same numbers as the compiled loop', async () => {
    const loop = await report(solve({ solver: 'anderson', tol: 1e-4, maxIter: 25, perSample: true }), X);
    const unrolled = await report(solve({ solver: 'anderson', tol: 1e-4, maxIter: 25, perSample: true, backward: 'unrolled' }), X);
    // one sample (the smallest input) is still open at the limit: its books stop moving with the count
    expect(loop.sampleIterations!.filter((k) => k < 25).length).toBeGreaterThan(B / 2);
    expect(unrolled.sampleIterations).toEqual(loop.sampleIterations);
    unrolled.sampleRelResidual!.forEach((r, i) => expect(Math.abs(r - loop.sampleRelResidual![i]!)).toBeLessThan(1e-12));
  });

  it('without perSample the statistics and taps carry no per-sample fields', async () => {
    const f = jit((x: Value, w: Value) => fixedPoint(cell, np.zerosLike(x), [x, w], { tol: 1e-6 }).stats);
    const stats = (await f(X, W)) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).toEqual(['batchRelResidual', 'batchResidual', 'converged', 'diverged', 'iterations', 'relResidual', 'residual']);
    expect(Object.keys(f.lastTaps['fixedPoint.forward']![0]!)).not.toContain('sampleIterations');
  });
});
