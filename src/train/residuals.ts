/**
 * Residual traces for the tutorial's plot (`deq plot`, the browser page): the forward solve's
 * relative residual per iteration and the implicit backward solve's (w = Jᵀ w + g at z*, with a
 * random cotangent g as in the tutorial), both from one compiled graph running the same solves
 * training runs.
 */
import { InputError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import type { FixedPointOptions } from '../solvers/index.js';
import type { Model } from '../nn/models.js';
import * as np from '../np.js';
import { fixedPoint, readStats } from '../solvers/index.js';
import { grad } from '../transforms/grad.js';
import { jit } from '../transforms/jit.js';
import { traceArgs } from '../transforms/traceArgs.js';
import type { RuntimeOptions } from '../backend/runtime.js';

export interface ResidualTraces {
  forward: number[];
  backward: number[];
}

/** The residual after each iteration of the model's forward and backward solves on the images x. */
export async function residualTraces(model: Model, params: unknown, state: unknown, x: Tensor, deq: FixedPointOptions, runtime: RuntimeOptions = {}, seed = 0): Promise<ResidualTraces> {
  if (!model.deqParts) throw new InputError(`model ${model.name} has no DEQ layer to trace`);
  const parts = model.deqParts.bind(model);
  // the gradient of <z*, g> w.r.t. the injected input runs exactly the implicit backward solve that
  // training runs; both solves report their residual traces through the taps
  const run = jit((p: unknown, s: unknown, x: Value, g: Value) => {
    const { cell, input, cellParams, z0 } = parts(p, s, x);
    const probe = (inp: Value) =>
      np.sum(np.mul(fixedPoint(cell, z0 ?? np.zerosLike(inp), [inp, cellParams], {
        solver: deq.solver, tol: deq.tol, maxIter: deq.maxIter, trace: true,
        backwardTol: deq.backwardTol, backwardMaxIter: deq.backwardMaxIter,
      }).value, g));
    return grad(probe)(input);
  }, { ...runtime, name: `${model.name}_residuals` });
  try {
    // the cotangent has the shape of z*: the solve's starting point, by default the injected input's (traced, not run)
    const input = traceArgs((p: unknown, s: unknown, x: Value) => { const d = parts(p, s, x); return d.z0 ?? d.input; }, [params, state, x]).graph.outputs[0]!.aval;
    const g = new Rng(seed).randn(input.shape, input.dtype);
    await run(params, state, x, g);
    const fwd = run.lastTaps['fixedPoint.forward']?.[0];
    const bwd = run.lastTaps['fixedPoint.backward']?.[0];
    if (!fwd || !bwd) throw new InputError('the solve reported no residual trace');
    return { forward: readStats(fwd).trace ?? [], backward: readStats(bwd).trace ?? [] };
  } finally {
    await run.release();
  }
}
