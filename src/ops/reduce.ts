/** Reductions: sum (linear), max; mean, argmax and friends built on them. */
import { DTypeError, ShapeError } from '../core/errors.js';
import type { Aval } from '../core/ir.js';
import { definePrimitive, Undefined, type Value } from '../core/primitive.js';
import { sizeOf } from '../core/tensor.js';
import { avalOf, bind1 } from '../core/trace.js';
import { astype, div, equal, mul, sub } from './elementwise.js';
import { batchFirst } from './batching.js';
import { broadcastTo, reshape } from './shape.js';
import { dtypeOf, fmtShape, normAxis, requireFloat, shapeOf } from './util.js';

type ReduceParams = { axes: number[]; keepdims: boolean };

const reducedAval = (name: string, x: Aval, p: ReduceParams): Aval => {
  for (const a of p.axes) {
    if (a < 0 || a >= x.shape.length) throw new ShapeError(`${name}: axis ${a} out of range for ${fmtShape(x.shape)}`);
  }
  const shape = p.keepdims ? x.shape.map((d, i) => (p.axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !p.axes.includes(i));
  return { shape, dtype: x.dtype };
};
/** Reduced axes of an example, with the batch axis in front. */
const shiftAxes = (axes: number[]) => axes.map((a) => a + 1);
const keptShape = (s: readonly number[], axes: number[]) => s.map((d, i) => (axes.includes(i) ? 1 : d));

export const reduceSumP = definePrimitive<ReduceParams>({
  name: 'reduceSum',
  shape: ([x], p) => {
    // onnxruntime has no ReduceSum for bool
    if (x!.dtype === 'bool') throw new DTypeError(`sum: cannot add bool values ${fmtShape(x!.shape)}. Count them with np.sum(np.astype(x, 'float32')).`);
    return [reducedAval('sum', x!, p)];
  },
  lower: (ctx, [x], p) => [ctx.op('ReduceSum', [x!, ctx.ints(p.axes)], { keepdims: p.keepdims ? 1 : 0 })],
  jvp: ([x], [dx], p) => [[sum(x!, p.axes, p.keepdims)], [dx && sum(dx, p.axes, p.keepdims)]],
  transpose: ([ct], [x], p) => {
    const s = (x as Undefined).aval.shape;
    return [ct && broadcastTo(reshape(ct, keptShape(s, p.axes)), s)];
  },
  batch: ([x], [d], p) => [[sum(batchFirst(x!, d!), shiftAxes(p.axes), p.keepdims)], [0]],
});

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

export const argmaxP = definePrimitive<{ axis: number; keepdims: boolean }>({
  name: 'argmax',
  nondifferentiable: true,
  shape: ([x], p) => [{ ...reducedAval('argmax', x!, { axes: [p.axis], keepdims: p.keepdims }), dtype: 'int64' }],
  lower: (ctx, [x], p) => [ctx.op('ArgMax', [x!], { axis: p.axis, keepdims: p.keepdims ? 1 : 0 })],
  batch: ([x], [d], p) => [[argmax(batchFirst(x!, d!), p.axis + 1, p.keepdims)], [0]],
});

const axesOf = (name: string, x: Value, axis?: number | readonly number[]): number[] => {
  const r = shapeOf(x).length;
  const ax = axis === undefined ? [...Array(r).keys()] : typeof axis === 'number' ? [axis] : [...axis];
  return [...new Set(ax.map((a) => normAxis(name, a, r)))].sort((a, b) => a - b);
};

export function sum(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  const axes = axesOf('sum', x, axis);
  if (axes.length === 0) return x;
  return bind1(reduceSumP, [x], { axes, keepdims });
}
export function max(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  const axes = axesOf('max', x, axis);
  if (axes.length === 0) return x;
  return bind1(reduceMaxP, [x], { axes, keepdims });
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
