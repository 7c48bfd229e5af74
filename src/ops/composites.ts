/** Composites written from primitives: their derivatives come from the primitives' rules. */
import type { DType } from '../core/dtype.js';
import { ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { add, astype, div, equal, exp, log, mul, sqrt, sub } from './elementwise.js';
import { max, mean } from './reduce.js';
import { axesOf, expandDims, reshape, sum } from './shape.js';
import { dtypeOf, fmtShape, shapeOf } from './util.js';
import { bind1 } from '../core/trace.js';
import { definePrimitive } from '../core/primitive.js';
import { tensor } from '../core/tensor.js';
import { layerNorm } from './norm.js';

export { layerNorm };

/** Stop gradients: the value passes through, its derivative is zero. */
export const stopGradientP = definePrimitive({
  name: 'stopGradient',
  nondifferentiable: true,
  shape: ([x]) => [x!],
  // the value itself: an Identity node would run on every trip of a loop that measures with it
  lower: (_ctx, [x]) => [x!],
  batch: ([x], [d]) => [[stopGradient(x!)], [d!]],
});
export const stopGradient = (x: Value): Value => bind1(stopGradientP, [x]);

/** log Σ exp(x) over one axis or several, shifted by the (constant) maximum so that it stays finite. */
export function logSumExp(x: Value, axis: number | readonly number[] = -1, keepdims = false): Value {
  const axes = axesOf('logSumExp', x, axis);
  const m = stopGradient(max(x, axes, true));
  const out = add(log(sum(exp(sub(x, m)), axes, true)), m);
  return keepdims ? out : reshape(out, shapeOf(out).filter((_, i) => !axes.includes(i)));
}
export const logSoftmax = (x: Value, axis = -1): Value => sub(x, logSumExp(x, axis, true));
export function softmax(x: Value, axis = -1): Value {
  const e = exp(sub(x, stopGradient(max(x, axis, true))));
  return div(e, sum(e, axis, true));
}

/** One-hot encoding of integer labels (int64 [N]) to [N, classes]. */
export function oneHot(labels: Value, classes: number, dtype: DType = 'float32'): Value {
  const r = tensor([Array.from({ length: classes }, (_, i) => i)], 'int64');
  return astype(equal(expandDims(astype(labels, 'int64'), -1), r), dtype);
}

/**
 * Mean cross-entropy of logits [N, C] against integer labels [N] (int64) or probabilities [N, C].
 */
export function crossEntropy(logits: Value, labels: Value): Value {
  const s = shapeOf(logits);
  if (s.length !== 2) throw new ShapeError(`crossEntropy: logits must be [N, C], got ${fmtShape(s)}`);
  const ts = shapeOf(labels);
  if (!(ts.length === 1 && ts[0] === s[0]) && !(ts.length === 2 && ts[0] === s[0] && ts[1] === s[1])) {
    throw new ShapeError(
      `crossEntropy: labels ${fmtShape(ts)} do not fit logits ${fmtShape(s)}: give class indices [${s[0]}] or probabilities [${s[0]}, ${s[1]}]`,
    );
  }
  const ls = logSoftmax(logits, -1);
  const target = ts.length === 1 ? oneHot(labels, s[1]!, dtypeOf(logits)) : labels;
  return div(sum(mul(ls, target)), -s[0]!);
}

/** A standardisation's result and its statistics over the axes (kept as size-1 axes). */
export interface Standardized {
  /** (x − mean) / std */
  y: Value;
  mean: Value;
  variance: Value;
  /** √(variance + eps) */
  std: Value;
}

/** x − its mean, over its standard deviation, over `axes`: the core of every normalisation layer. */
export function standardize(x: Value, axes: number | readonly number[], eps: number): Standardized {
  const m = mean(x, axes, true);
  const d = sub(x, m);
  const variance = mean(mul(d, d), axes, true);
  const std = sqrt(add(variance, eps));
  return { y: div(d, std), mean: m, variance, std };
}

/** Group norm over NC... input: channels split into `groups`, normalised over (C/groups, spatial). */
export function groupNorm(x: Value, groups: number, eps = 1e-5): Value {
  const s = shapeOf(x);
  if (s.length < 2 || s[1]! % groups !== 0) {
    throw new ShapeError(`groupNorm: ${s[1]} channels of ${fmtShape(s)} do not split into ${groups} groups`);
  }
  const g = reshape(x, [s[0]!, groups, -1]);
  return reshape(layerNorm(g, 2, eps), s);
}
