/**
 * gather (ONNX Gather: slices along an axis at an integer index tensor of any shape) and its
 * transpose scatterAdd (the slices added back into zeros, repeated indices summing). Both are
 * linear in their float operand, and each one's transpose is the other.
 */
import { DTypeError, ShapeError, TransformError } from '../core/errors.js';
import type { Aval } from '../core/ir.js';
import { definePrimitive, type Primitive, Undefined, type Value } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { sizeOf } from '../core/tensor.js';
import { batchFirst } from './shape.js';
import { fmtShape, normAxis, shapeOf } from './util.js';

function checkIndices(name: string, i: Aval): void {
  if (i.dtype !== 'int64' && i.dtype !== 'int32') throw new DTypeError(`${name}: indices must be int64 or int32, got ${i.dtype}${fmtShape(i.shape)}`);
}

/** Output shape of a gather: the indexed axis replaced by the indices' shape. */
const gatheredShape = (x: readonly number[], idx: readonly number[], axis: number): number[] =>
  [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];

export const gatherP: Primitive<{ axis: number }> = definePrimitive<{ axis: number }>({
  name: 'gather',
  shape: ([x, i], p) => {
    checkIndices('gather', i!);
    if (p.axis < 0 || p.axis >= x!.shape.length) throw new ShapeError(`gather: axis ${p.axis} is out of range for ${fmtShape(x!.shape)}`);
    return [{ shape: gatheredShape(x!.shape, i!.shape, p.axis), dtype: x!.dtype }];
  },
  lower: (ctx, [x, i], p) => [ctx.op('Gather', [x!, i!], { axis: p.axis })],
  jvp: ([x, i], [dx], p) => [[bind1(gatherP, [x!, i!], p)], [dx && bind1(gatherP, [dx, i!], p)]],
  transpose: ([ct], [x, i], p) => {
    if (i instanceof Undefined) throw new TransformError('gather: not linear in the indices');
    if (!ct || !(x instanceof Undefined)) return [null, null];
    return [scatterAdd(ct, i, p.axis, x.aval.shape[p.axis]!), null];
  },
  // a batched index tensor gathers differently per example: left to vmap's unrolled fallback
  batch: ([x, i], [d, di], p) => (di !== null ? null : [[bind1(gatherP, [batchFirst(x!, d!), i!], { axis: p.axis + 1 })], [0]]),
});

export const scatterAddP: Primitive<{ axis: number; size: number }> = definePrimitive<{ axis: number; size: number }>({
  name: 'scatterAdd',
  shape: ([u, i], p) => {
    checkIndices('scatterAdd', i!);
    const r = u!.shape.length - i!.shape.length + 1;
    const at = u!.shape.slice(p.axis, p.axis + i!.shape.length);
    if (p.axis < 0 || p.axis >= r || at.some((d, k) => d !== i!.shape[k])) {
      throw new ShapeError(`scatterAdd: updates ${fmtShape(u!.shape)} do not hold indices ${fmtShape(i!.shape)} at axis ${p.axis}`);
    }
    const s = [...u!.shape.slice(0, p.axis), p.size, ...u!.shape.slice(p.axis + i!.shape.length)];
    return [{ shape: s, dtype: u!.dtype }];
  },
  lower: (ctx, [u, i], p, info) => {
    // ScatterElements wants indices of the updates' shape: flatten the index axes, broadcast the indices
    const us = info.inAvals[0]!.shape;
    const is = info.inAvals[1]!.shape;
    const out = info.outAvals[0]!;
    const k = sizeOf(is);
    const flat = [...us.slice(0, p.axis), k, ...us.slice(p.axis + is.length)];
    const u2 = ctx.op('Reshape', [u!, ctx.ints(flat)]);
    const i1 = ctx.op('Reshape', [i!, ctx.ints(flat.map((_, a) => (a === p.axis ? k : 1)))]);
    const i2 = ctx.op('Expand', [i1, ctx.ints(flat)]);
    const zeros = ctx.op('Expand', [ctx.scalar(0, out.dtype), ctx.ints(out.shape)]);
    return [ctx.op('ScatterElements', [zeros, i2, u2], { axis: p.axis, reduction: 'add' })];
  },
  jvp: ([u, i], [du], p) => [[bind1(scatterAddP, [u!, i!], p)], [du && bind1(scatterAddP, [du, i!], p)]],
  transpose: ([ct], [u, i], p) => {
    if (i instanceof Undefined) throw new TransformError('scatterAdd: not linear in the indices');
    if (!ct || !(u instanceof Undefined)) return [null, null];
    return [bind1(gatherP, [ct, i], { axis: p.axis }), null];
  },
  batch: ([u, i], [d, di], p) => (di !== null ? null : [[bind1(scatterAddP, [batchFirst(u!, d!), i!], { axis: p.axis + 1, size: p.size })], [0]]),
});

/** Slices of x along `axis` at integer indices of any shape (negative ones count from the back). */
export function gather(x: Value, indices: Value, axis = 0): Value {
  return bind1(gatherP, [x, indices], { axis: normAxis('gather', axis, shapeOf(x).length) });
}

/** Zeros with `size` along `axis`, with the slices of `updates` added at `indices` (repeats sum). */
export function scatterAdd(updates: Value, indices: Value, axis: number, size: number): Value {
  return bind1(scatterAddP, [updates, indices], { axis, size });
}
