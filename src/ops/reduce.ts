/** Reductions: max, argmax; mean and variance built on sum (which lives with broadcastTo in shape.ts, its transpose). */
import { definePrimitive, type Value } from '../core/primitive.js';
import { sizeOf } from '../core/tensor.js';
import { avalOf, bind1 } from '../core/trace.js';
import { abs, astype, div, equal, mul, neg, sub, where } from './elementwise.js';
import { axesOf, batchFirst, keptShape, reducedAval, type ReduceParams, reshape, shiftAxes, sum } from './shape.js';
import { dtypeOf, normAxis, requireFloat, shapeOf } from './util.js';

export const reduceMaxP = definePrimitive<ReduceParams>({
  name: 'reduceMax',
  shape: ([x], p) => [reducedAval('max', x!, p)],
  lower: (ctx, [x], p) => [ctx.op('ReduceMax', [x!, ctx.ints(p.axes)], { keepdims: p.keepdims ? 1 : 0 })],
  jvp: ([x], [dx], p) => {
    const out = max(x!, p.axes, p.keepdims);
    if (!dx) return [[out], [null]];
    // the derivative is shared equally between tied maxima
    const s = shapeOf(x!);
    const mask = astype(equal(x!, reshape(out, keptShape(s, p.axes))), dtypeOf(x!));
    const count = sum(mask, p.axes, p.keepdims);
    return [[out], [div(sum(mul(dx, mask), p.axes, p.keepdims), count)]];
  },
  batch: ([x], [d], p) => [[max(batchFirst(x!, d!), shiftAxes(p.axes), p.keepdims)], [0]],
});

/**
 * Euclidean norm over axes, one primitive (its derivative x·dx / ‖x‖ in one rule). It lowers to
 * Sqrt(ReduceSum(x · x)): onnxruntime's ReduceL2 took longer than those three kernels together
 * on [100, 100] → [100, 1] (4.0 against 2.3 µs of CPU time per call, measured in one loop each).
 */
export const normP = definePrimitive<ReduceParams>({
  name: 'norm',
  shape: ([x], p) => {
    requireFloat('norm', x!);
    return [reducedAval('norm', x!, p)];
  },
  lower: (ctx, [x], p) => [ctx.op('Sqrt', [ctx.op('ReduceSum', [ctx.op('Mul', [x!, x!]), ctx.ints(p.axes)], { keepdims: p.keepdims ? 1 : 0 })])],
  jvp: ([x], [dx], p) => {
    const out = norm(x!, p.axes, p.keepdims);
    if (!dx) return [[out], [null]];
    // d‖x‖ = x·dx / ‖x‖; at x = 0 (where x·dx = 0 too) the derivative is taken as 0
    const n = reshape(out, keptShape(shapeOf(x!), p.axes));
    const safe = where(equal(n, 0), 1, n);
    return [[out], [div(sum(mul(x!, dx), p.axes, p.keepdims), reshape(safe, shapeOf(out)))]];
  },
  batch: ([x], [d], p) => [[norm(batchFirst(x!, d!), shiftAxes(p.axes), p.keepdims)], [0]],
});

export const argmaxP = definePrimitive<{ axis: number; keepdims: boolean }>({
  name: 'argmax',
  nondifferentiable: true,
  shape: ([x], p) => [{ ...reducedAval('argmax', x!, { axes: [p.axis], keepdims: p.keepdims }), dtype: 'int64' }],
  lower: (ctx, [x], p) => [ctx.op('ArgMax', [x!], { axis: p.axis, keepdims: p.keepdims ? 1 : 0 })],
  batch: ([x], [d], p) => [[argmax(batchFirst(x!, d!), p.axis + 1, p.keepdims)], [0]],
});

export function max(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  const axes = axesOf('max', x, axis);
  if (axes.length === 0) return x;
  return bind1(reduceMaxP, [x], { axes, keepdims });
}
/** Minimum over axes: −max(−x), so ties share the derivative as max's do. */
export function min(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  return neg(max(neg(x), axis, keepdims));
}

/** Euclidean (Frobenius) norm over `axis` (default: all axes). */
export function norm(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  requireFloat('norm', avalOf(x));
  const axes = axesOf('norm', x, axis);
  if (axes.length === 0) return abs(x);
  return bind1(normP, [x], { axes, keepdims });
}
export function mean(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  // an integer mean would silently round (integer division)
  requireFloat('mean', avalOf(x));
  const axes = axesOf('mean', x, axis);
  const n = sizeOf(axes.map((a) => shapeOf(x)[a]!));
  return div(sum(x, axes, keepdims), n);
}
export function argmax(x: Value, axis = -1, keepdims = false): Value {
  return bind1(argmaxP, [x], { axis: normAxis('argmax', axis, shapeOf(x).length), keepdims });
}
/** Population variance over axes. */
export function variance(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  const m = mean(x, axis, true);
  const d = sub(x, m);
  return mean(mul(d, d), axis, keepdims);
}
