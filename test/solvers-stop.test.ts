/**
 * How a solve stops: several solver steps per trip of the compiled loop report exactly what one
 * step per trip reports (iterate, count, residuals, trace, divergence), and the batch criterion
 * (one norm over the batch, the tutorial's) next to the per-sample one, with both residuals in the
 * statistics.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, fixedPointHost, jit, np, Rng, Tensor, type FixedPointOptions, type SolverName, type Value } from '../src/index.js';

const rng = new Rng(2718);
const n = 12;
const batch = 6;
const tanhCell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));
const linearCell = (z: Value, x: Value, W: Value) => np.add(np.matmul(z, W), x);

type Solved = { value: Tensor; stats: Record<string, Tensor> };
const solveWith = (cell: typeof tanhCell, opts: FixedPointOptions) =>
  jit((x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], { ...opts, trace: true }));

function weights(dtype: 'float32' | 'float64', scale: number): Tensor {
  return rng.randn([n, n], dtype, scale / Math.sqrt(n));
}

/** Inputs whose samples converge at different speeds: rows scaled from 0.05 to 3. */
function inputs(dtype: 'float32' | 'float64'): Tensor {
  const x = rng.randn([batch, n], 'float64').toArray().map((v, i) => v * (0.05 + (3 * Math.floor(i / n)) / (batch - 1)));
  return new Tensor(dtype, [batch, n], dtype === 'float32' ? Float32Array.from(x) : Float64Array.from(x));
}

function expectSame(a: Solved, b: Solved): void {
  expect(b.value.toArray()).toEqual(a.value.toArray());
  expect(Object.keys(b.stats).sort()).toEqual(Object.keys(a.stats).sort());
  for (const k of Object.keys(a.stats)) expect([k, b.stats[k]!.toArray()]).toEqual([k, a.stats[k]!.toArray()]);
}

describe('stepsPerTrip: several steps per loop trip report what one step per trip reports', () => {
  const solvers: SolverName[] = ['forward', 'anderson', 'broyden', 'newton'];
  for (const dtype of ['float64', 'float32'] as const) {
    for (const solver of solvers) {
      it(`${solver}, ${dtype}: on a contractive cell, at maxIter, and on an expanding linear map`, async () => {
        const x = inputs(dtype);
        const cases: [typeof tanhCell, Tensor, FixedPointOptions][] = [
          [tanhCell, weights(dtype, 0.6), { tol: dtype === 'float64' ? 1e-10 : 1e-5, maxIter: 40 }],
          [tanhCell, weights(dtype, 0.9), { tol: 1e-30, maxIter: 17 }],
          [linearCell, weights(dtype, 4), { tol: 1e-8, maxIter: 40, stop: 'batch' }],
        ];
        for (const [cell, W, opts] of cases) {
          const one = (await solveWith(cell, { ...opts, solver })(x, W)) as Solved;
          for (const k of [2, 3, 5]) expectSame(one, (await solveWith(cell, { ...opts, solver, stepsPerTrip: k })(x, W)) as Solved);
        }
      });
    }
  }

  it('the cases above mean what they say: one converges, one stops at maxIter, one diverges', async () => {
    const x = inputs('float64');
    const ok = (await solveWith(tanhCell, { solver: 'anderson', tol: 1e-10, maxIter: 40 })(x, weights('float64', 0.6))) as Solved;
    expect(ok.stats.converged!.item()).toBe(1);
    const capped = (await solveWith(tanhCell, { solver: 'anderson', tol: 1e-30, maxIter: 17 })(x, weights('float64', 0.9))) as Solved;
    expect([capped.stats.converged!.item(), capped.stats.iterations!.item()]).toEqual([0, 17]);
    const blown = (await solveWith(linearCell, { solver: 'forward', tol: 1e-8, maxIter: 40, stop: 'batch' })(x, weights('float64', 4))) as Solved;
    expect(blown.stats.diverged!.item()).toBe(1);
    expect(blown.stats.iterations!.item()).toBeLessThan(40);
  });
});

/** ‖f(z) − z‖ per sample and over the batch, relative to ‖f(z)‖ (+1e-5), in float64 on the host. */
async function residuals(z: Tensor, x: Tensor, W: Tensor) {
  const fz = ((await jit(tanhCell)(z, x, W)) as Tensor).toArray();
  const zv = z.toArray();
  let num = 0, den = 0, worst = 0;
  for (let b = 0; b < batch; b++) {
    let nb = 0, db = 0;
    for (let j = 0; j < n; j++) {
      nb += (fz[b * n + j]! - zv[b * n + j]!) ** 2;
      db += fz[b * n + j]! ** 2;
    }
    num += nb;
    den += db;
    worst = Math.max(worst, Math.sqrt(nb) / (1e-5 + Math.sqrt(db)));
  }
  return { sample: worst, batch: Math.sqrt(num) / (1e-5 + Math.sqrt(den)), batchAbs: Math.sqrt(num) };
}

describe("stop: 'batch' (the tutorial's criterion) next to 'sample'", () => {
  const x = inputs('float64');
  const W = weights('float64', 0.95);
  const tol = 1e-3;

  for (const solver of ['forward', 'anderson'] as const) {
    it(`${solver}: stops when one norm over the batch is below tol, and reports both criteria`, async () => {
      const perSample = (await solveWith(tanhCell, { solver, tol, maxIter: 200 })(x, W)) as Solved;
      const perBatch = (await solveWith(tanhCell, { solver, tol, maxIter: 200, stop: 'batch' })(x, W)) as Solved;
      for (const r of [perSample, perBatch]) {
        expect(r.stats.converged!.item()).toBe(1);
        // the statistics are the returned iterate's, under both criteria
        const own = await residuals(r.value, x, W);
        expect(r.stats.relResidual!.item()).toBeCloseTo(own.sample, 12);
        expect(r.stats.batchRelResidual!.item()).toBeCloseTo(own.batch, 12);
        expect(r.stats.batchResidual!.item()).toBeCloseTo(own.batchAbs, 12);
      }
      expect(perSample.stats.relResidual!.item()).toBeLessThan(tol);
      expect(perBatch.stats.batchRelResidual!.item()).toBeLessThan(tol);
      // the worst sample no longer decides: fewer iterations, and here that sample is still above tol
      expect(perBatch.stats.iterations!.item()).toBeLessThan(perSample.stats.iterations!.item());
      expect(perBatch.stats.relResidual!.item()).toBeGreaterThan(tol);
      // the step before the last one was not yet below tol over the batch
      const before = (await solveWith(tanhCell, { solver, tol, maxIter: perBatch.stats.iterations!.item() - 1, stop: 'batch' })(x, W)) as Solved;
      expect(before.stats.converged!.item()).toBe(0);
      expect(before.stats.batchRelResidual!.item()).toBeGreaterThanOrEqual(tol);
    });
  }

  it("stopOn 'abs' over the batch stops on ‖F − Z‖", async () => {
    const r = (await solveWith(tanhCell, { solver: 'anderson', tol: 1e-3, maxIter: 200, stop: 'batch', stopOn: 'abs' })(x, W)) as Solved;
    expect(r.stats.converged!.item()).toBe(1);
    expect(r.stats.batchResidual!.item()).toBeLessThan(1e-3);
    const before = (await solveWith(tanhCell, { solver: 'anderson', tol: 1e-3, maxIter: r.stats.iterations!.item() - 1, stop: 'batch', stopOn: 'abs' })(x, W)) as Solved;
    expect(before.stats.batchResidual!.item()).toBeGreaterThanOrEqual(1e-3);
  });

  it('the host loop stops at the same step, with the same iterate and report', async () => {
    const opts = { solver: 'anderson' as const, tol, maxIter: 200, stop: 'batch' as const };
    const c = (await solveWith(tanhCell, opts)(x, W)) as Solved;
    const h = await fixedPointHost(tanhCell, new Tensor('float64', x.shape), [x, W], opts);
    expect(h.runs).toBe(c.stats.iterations!.item() + 1);
    expect(h.value.toArray()).toEqual(c.value.toArray());
    expect(h.outcome._tag).toBe('Right');
    if (h.outcome._tag === 'Right') expect(h.outcome.right.batchRelResidual).toBe(c.stats.batchRelResidual!.item());
  });

  it("the unrolled solve stops counting at the same step", async () => {
    const opts = { solver: 'forward' as const, tol, maxIter: 60, stop: 'batch' as const };
    const c = (await solveWith(tanhCell, opts)(x, W)) as Solved;
    const u = (await solveWith(tanhCell, { ...opts, backward: 'unrolled' })(x, W)) as Solved;
    expect(u.stats.iterations!.item()).toBe(c.stats.iterations!.item());
    expect(u.value.toArray()).toEqual(c.value.toArray());
  });
});
