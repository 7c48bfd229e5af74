/**
 * The `np` namespace: every array operation a cell, a loss or a solver is written with. Each is a
 * thin wrapper that binds primitives (src/ops/, src/control/); the list is explicit so that the
 * primitive objects themselves stay out of the public surface (see src/extend.ts for those).
 */
import type { Value } from './core/primitive.js';
import { fill } from './ops/shape.js';
import { dtypeOf, shapeOf } from './ops/util.js';

export {
  add, sub, mul, div, pow, maximum, minimum, greater, less, equal, greaterEqual, lessEqual,
  neg, exp, log, tanh, sigmoid, relu, sqrt, abs, sign, square, logicalAnd, logicalOr, logicalNot, where, astype,
} from './ops/elementwise.js';
export {
  fill, zerosOf, zerosLike, reshape, transpose, mT, broadcastTo, unbroadcast, concat, stack, slice, sliceAxis, pad,
  expandDims, squeeze, flatten, moveAxis, sum,
} from './ops/shape.js';
export { take } from './ops/indexing.js';
export { gather, scatterAdd } from './ops/gather.js';
export { stridedSlice, flip } from './ops/strided.js';
export { max, min, mean, argmax, variance, norm } from './ops/reduce.js';
export { erf } from './ops/special.js';
export { clip, leakyRelu, elu, selu, celu, softplus, softsign, hardSigmoid, hardSwish, mish, gelu } from './ops/activations.js';
export { einsum } from './ops/einsum.js';
export { avgPool, maxPool, type AvgPoolOptions, type PoolOptions } from './ops/pool.js';
export { matmul } from './ops/linalg.js';
export { conv2d, convTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './ops/conv.js';
export { stopGradient, logSumExp, logSoftmax, softmax, oneHot, crossEntropy, layerNorm, groupNorm } from './ops/composites.js';
export { whileLoop, foriLoop } from './control/loop.js';
export { solve, inv } from './control/solve.js';
export type { ArrayLike } from './ops/util.js';
export { shapeOf as shape, dtypeOf as dtype } from './ops/util.js';

export const onesLike = (x: Value): Value => fill(shapeOf(x), 1, dtypeOf(x));
export const fullLike = (x: Value, v: number): Value => fill(shapeOf(x), v, dtypeOf(x));
