/**
 * Second order for every differentiable primitive: the gradient of ⟨v, op(x)⟩, contracted with a
 * fixed random c, is itself checked against finite differences. This exercises the JVP and
 * transpose rules of the ops that the first-order rules are written with.
 */
import { describe, it } from 'vitest';
import { grad, np, Rng, type Tensor, type Value } from '../src/index.js';
import { traceGraph } from '../src/core/trace.js';
import { type Fn, expectGradsOk } from './helpers/gradcheck.js';

const rng = new Rng(97);
const positive = (s: number[]) => rng.uniform(s, 'float64', 0.5, 2);
const normal = (s: number[]) => rng.randn(s, 'float64');

/** x ↦ Σ_i ⟨c_i, ∂⟨v, op(x)⟩/∂x_i⟩ with fixed random v and c_i. */
function gradientContraction(op: Fn, args: Tensor[]): Fn {
  const outShape = traceGraph((...xs) => [op(...xs)], args).graph.outputs[0]!.aval.shape;
  const v = rng.randn(outShape, 'float64');
  const cs = args.map((a) => rng.randn(a.shape, 'float64'));
  const argnums = args.map((_, i) => i);
  const g = grad((...xs: Value[]) => np.sum(np.mul(op(...xs), v)), { argnums });
  return (...xs) => {
    const r = g(...xs) as Value | Value[];
    const gs = Array.isArray(r) ? r : [r];
    return gs.map((gi, i) => np.sum(np.mul(gi, cs[i]!))).reduce((a, b) => np.add(a, b));
  };
}

const cases: [string, Fn, Tensor[]][] = [
  ['mul (broadcast)', np.mul, [normal([3, 1, 4]), normal([2, 1])]],
  ['div', np.div, [normal([3, 4]), positive([3, 4])]],
  ['pow', np.pow, [positive([3, 4]), normal([4])]],
  ['maximum', np.maximum, [normal([3, 4]), normal([3, 4])]],
  ['minimum', np.minimum, [normal([3, 4]), normal([4])]],
  ['exp', np.exp, [normal([3, 4])]],
  ['log', np.log, [positive([3, 4])]],
  ['tanh', np.tanh, [normal([3, 4])]],
  ['sigmoid', np.sigmoid, [normal([3, 4])]],
  ['sqrt', np.sqrt, [positive([3, 4])]],
  ['relu · x', (x) => np.mul(np.relu(x), x), [normal([3, 4])]],
  ['abs · x', (x) => np.mul(np.abs(x), x), [normal([3, 4])]],
  ['where', (c, a) => np.where(np.greater(c, 0), np.mul(a, a), np.exp(a)), [normal([3, 1]), normal([3, 4])]],
  ['max over axis 1 of x²', (x) => np.max(np.mul(x, x), 1), [normal([3, 4])]],
  ['softmax', (x) => np.softmax(x), [normal([3, 4])]],
  ['logSoftmax', (x) => np.logSoftmax(x), [normal([3, 4])]],
  ['layerNorm', (x) => np.layerNorm(x), [normal([3, 4])]],
  ['groupNorm', (x) => np.groupNorm(x, 2), [normal([2, 4, 2, 2])]],
  ['matmul (batched)', np.matmul, [normal([2, 3, 4]), normal([4, 2])]],
  ['shape ops chain', (x) => np.mul(np.pad(np.sliceAxis(np.transpose(np.reshape(x, [4, 3]), [1, 0]), 1, 1, 3), [[1, 0], [0, 2]]), np.concat([np.sliceAxis(x, 0, 0, 1), x], 0)), [normal([3, 4])]],
  ['conv2d (groups 2, stride 2)', (x, w) => np.conv2d(x, w, { stride: 2, padding: 1, groups: 2 }), [normal([1, 4, 5, 5]), normal([4, 2, 3, 3])]],
  ['convTranspose2d (stride 2)', (u, w) => np.convTranspose2d(u, w, { stride: 2, padding: 1 }), [normal([1, 3, 3, 3]), normal([3, 2, 3, 3])]],
];

describe('second-order derivatives of every primitive', () => {
  for (const [name, op, args] of cases) {
    it(name, async () => {
      await expectGradsOk(gradientContraction(op, args), args, { directions: 1 });
    });
  }
});
