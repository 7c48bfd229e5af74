/**
 * Residual traces for the tutorial's plot: the forward solve's relative residual per iteration and
 * the backward solve's (w = Jᵀ w + g at z*, with a random cotangent g as in the tutorial), both
 * computed in one compiled graph with the same solvers training uses.
 */
import { InputError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import type { DeqOptions } from '../nn/deq.js';
import type { Model } from '../nn/models.js';
import * as np from '../ops/np.js';
import { fixedPoint, resolveSolver, solveCompiled } from '../solvers/index.js';
import { linearizeMap } from '../solvers/linearize.js';
import { jit } from '../transforms/jit.js';
import type { RuntimeOptions } from '../backend/runtime.js';

export interface ResidualTraces {
  forward: number[];
  backward: number[];
}

/** The first `iterations` entries of a zero-padded trace. */
const cut = (trace: Tensor, iterations: Tensor): number[] => trace.toArray().slice(0, Math.max(1, Math.round(iterations.item())));

export async function residualTraces(model: Model, params: unknown, state: unknown, x: Tensor, deq: DeqOptions, runtime: RuntimeOptions = {}, seed = 0): Promise<ResidualTraces> {
  if (!model.deqParts) throw new InputError(`model ${model.name} has no DEQ layer to trace`);
  const parts = model.deqParts.bind(model);
  const run = jit((p: unknown, s: unknown, x: Value, g: Value) => {
    const { cell, input, cellParams } = parts(p, s, x);
    const { value, stats } = fixedPoint(cell, np.zerosLike(input), [input, cellParams], {
      solver: deq.solver, tol: deq.tol, maxIter: deq.maxIter, trace: true,
    });
    const zShape = np.shape(value);
    const b = zShape[0]!;
    const map = (z: Value) => np.reshape(cell(np.reshape(z, zShape), input, cellParams), [b, -1]);
    const lin = linearizeMap(map, np.reshape(np.stopGradient(value), [b, -1]));
    const rhs = np.reshape(g, [b, -1]);
    // the same linear solver fixedPoint's implicit backward uses by default
    const back = solveCompiled(resolveSolver('anderson', 'anderson'), (w) => np.add(lin.vjp(w), rhs), rhs, {
      tol: deq.backwardTol ?? deq.tol, maxIter: deq.backwardMaxIter ?? deq.maxIter, trace: true,
    });
    return { fTrace: stats.trace!, fIters: stats.iterations, bTrace: back.stats.trace!, bIters: back.stats.iterations };
  }, runtime);
  // the cotangent has the shape of z*, which is the shape of the injected input
  const shape = await jit((p: unknown, s: unknown, x: Value) => parts(p, s, x).input)(params, state, x);
  const g = new Rng(seed).randn(shape.shape, shape.dtype);
  const out = (await run(params, state, x, g)) as Record<string, Tensor>;
  return { forward: cut(out.fTrace!, out.fIters!), backward: cut(out.bTrace!, out.bIters!) };
}
