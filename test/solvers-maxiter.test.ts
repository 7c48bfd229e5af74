/**
 * A solve that cannot reach its tolerance runs exactly maxIter iterations, no fewer, in the host
 * loop and in the compiled loop alike, and says it stopped at maxIter.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { fixedPoint, fixedPointHost, jit, np, Rng, Tensor, type SolverName, type Value } from '../src/index.js';

const rng = new Rng(99);
const n = 6;
const W = rng.randn([n, n], 'float64', 0.3);
const x = rng.randn([3, n], 'float64');
const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));

describe('the maxIter boundary', () => {
  for (const solver of ['forward', 'anderson'] as SolverName[]) {
    for (const maxIter of [1, 5]) {
      it(`${solver}, maxIter ${maxIter}, a tolerance below float64 rounding: exactly maxIter iterations, host and compiled`, async () => {
        const opts = { solver, tol: 1e-300, maxIter, trace: true };
        const compiled = (await jit((x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], opts))(x, W)) as { value: Tensor; stats: Record<string, Tensor> };
        expect(compiled.stats.iterations!.item()).toBe(maxIter);
        expect(compiled.stats.converged!.item()).toBe(0);

        const steps: number[] = [];
        const host = await fixedPointHost(cell, new Tensor('float64', x.shape), [x, W], { ...opts, onIterate: (k) => steps.push(k) });
        expect(steps).toEqual(Array.from({ length: maxIter }, (_, i) => i + 1));
        expect(host.residuals).toHaveLength(maxIter);
        expect(host.runs).toBe(maxIter + 1);
        expect(E.isLeft(host.outcome) && host.outcome.left.kind).toBe('maxIter');
        expect(E.isLeft(host.outcome) && host.outcome.left.iterations).toBe(maxIter);
        expect(host.residuals).toEqual(compiled.stats.trace!.toArray().slice(0, maxIter));
        expect(host.value.toArray()).toEqual(compiled.value.toArray());
      });
    }
  }
});
