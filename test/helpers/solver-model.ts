/**
 * A compiled DEQ step exported to ONNX: an Anderson fixed-point solve and its implicit backward
 * solve (two ONNX Loops with nested bodies), as a model file would carry it. Also the inputs it takes
 * and the outputs jit computes for them, to check a loaded copy against.
 */
import { fixedPoint, jit, np, Rng, Tensor, toOnnx, valueAndGrad, type Value } from '../../src/index.js';

export interface SolverModel {
  bytes: Uint8Array;
  inputs: Record<string, Tensor>;
  expected: Tensor[];
}

export async function solverModel(): Promise<SolverModel> {
  const rng = new Rng(7);
  const W = rng.randn([8, 8], 'float32', 0.1);
  const x = rng.randn([2, 8], 'float32');
  const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));
  const loss = (W: Value, x: Value) => np.sum(np.square(fixedPoint(cell, np.zerosLike(x), [x, W], { solver: 'anderson', tol: 1e-5, maxIter: 30 }).value));
  const step = valueAndGrad(loss);
  const { bytes } = toOnnx(step, { W, x }, { batchArgs: ['x'] });
  const f = jit(step);
  const [l, g] = (await f(W, x)) as [Tensor, Tensor];
  await f.release();
  return { bytes, inputs: { W, x }, expected: [l, g] };
}
