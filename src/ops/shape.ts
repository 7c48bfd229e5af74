/**
 * Structural primitives: full, reshape, transpose, broadcastTo, reduceSum, concat, slice, pad. All
 * linear, and each one's transpose rule is written with the others here — broadcasting and summing
 * are each other's transpose — so they share one file and this file imports no other op family.
 */
import type { DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { definePrimitive, Undefined, type Value } from '../core/primitive.js';
import type { Aval } from '../core/ir.js';
import { type Shape, sizeOf } from '../core/tensor.js';
import { bind1 } from '../core/trace.js';
import { type ArrayLike, batchSize, isValue, dtypeOf, fmtShape, lift, normAxis, sameDType, shapeOf, shapesEqual } from './util.js';

// ---- full: a constant-filled tensor (no inputs) -------------------------------------------
export const fullP = definePrimitive<{ shape: number[]; value: number; dtype: DType }>({
  name: 'full',
  shape: (_, p) => [{ shape: p.shape, dtype: p.dtype }],
  lower: (ctx, _, p) => [ctx.op('Expand', [ctx.scalar(p.value, p.dtype), ctx.ints(p.shape)])],
});
export const fill = (shape: Shape, value: number, dtype: DType = 'float32'): Value =>
  bind1(fullP, [], { shape: [...shape], value, dtype });
export const zerosOf = (shape: Shape, dtype: DType = 'float32'): Value => fill(shape, 0, dtype);
/** Zeros with the shape and dtype of a value (a symbolic zero made concrete). */
export const zerosLike = (x: Value | Aval): Value => (isValue(x) ? zerosOf(shapeOf(x), dtypeOf(x)) : zerosOf(x.shape, x.dtype));

// ---- reshape ---------------------------------------------------------------------------------
export const reshapeP = definePrimitive<{ shape: number[] }>({
  name: 'reshape',
  shape: ([x], p) => {
    if (sizeOf(p.shape) !== sizeOf(x!.shape)) {
      throw new ShapeError(`reshape: cannot reshape ${fmtShape(x!.shape)} (${sizeOf(x!.shape)} elements) to ${fmtShape(p.shape)} (${sizeOf(p.shape)} elements)`);
    }
    return [{ shape: p.shape, dtype: x!.dtype }];
  },
  // ONNX reads a 0 in the target as "copy the input's dimension" unless allowzero is set
  lower: (ctx, [x], p) => [ctx.op('Reshape', [x!, ctx.ints(p.shape)], p.shape.includes(0) ? { allowzero: 1 } : {})],
  jvp: ([x], [dx], p) => [[reshape(x!, p.shape)], [dx && reshape(dx, p.shape)]],
  transpose: ([ct], [x]) => [ct && reshape(ct, (x as Undefined).aval.shape)],
  batch: ([x], [d], p) => {
    const xb = batchFirst(x!, d!);
    return [[reshape(xb, [shapeOf(xb)[0]!, ...p.shape])], [0]];
  },
});
/** Reshape; one dimension may be -1. */
export function reshape(x: ArrayLike, shape: readonly number[]): Value {
  const [v] = lift(x);
  const from = shapeOf(v!);
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const free = shape.filter((d) => d === -1).length;
  const inferred = sizeOf(from) / known;
  if (free > 1 || shape.some((d) => d !== -1 && (!Number.isInteger(d) || d < 0)) || (free === 1 && !Number.isInteger(inferred))) {
    throw new ShapeError(
      `reshape: cannot reshape ${fmtShape(from)} (${sizeOf(from)} elements) to ${fmtShape(shape)}: ` +
        'give non-negative sizes with at most one -1, whose product divides the element count',
    );
  }
  const resolved = shape.map((d) => (d === -1 ? inferred : d));
  if (shapesEqual(from, resolved)) return v!;
  return bind1(reshapeP, [v!], { shape: resolved });
}

// ---- transpose -------------------------------------------------------------------------------
export const transposeP = definePrimitive<{ perm: number[] }>({
  name: 'transpose',
  shape: ([x], p) => {
    const r = x!.shape.length;
    if (p.perm.length !== r || [...p.perm].sort((a, b) => a - b).some((v, i) => v !== i)) {
      throw new ShapeError(`transpose: perm [${p.perm}] is not a permutation of the ${r} axes of ${fmtShape(x!.shape)}`);
    }
    return [{ shape: p.perm.map((i) => x!.shape[i]!), dtype: x!.dtype }];
  },
  lower: (ctx, [x], p) => [ctx.op('Transpose', [x!], { perm: p.perm })],
  jvp: ([x], [dx], p) => [[transpose(x!, p.perm)], [dx && transpose(dx, p.perm)]],
  transpose: ([ct], _, p) => {
    const inv = new Array<number>(p.perm.length);
    p.perm.forEach((a, i) => { inv[a] = i; });
    return [ct && transpose(ct, inv)];
  },
  batch: ([x], [d], p) => [[transpose(batchFirst(x!, d!), [0, ...p.perm.map((a) => a + 1)])], [0]],
});
/** Permute axes; without perm, reverse them. */
export function transpose(x: Value, perm?: readonly number[]): Value {
  const r = shapeOf(x).length;
  const pm = perm ? perm.map((a) => normAxis('transpose', a, r)) : [...Array(r).keys()].reverse();
  if (pm.every((a, i) => a === i)) return x;
  return bind1(transposeP, [x], { perm: pm });
}
/** Swap the last two axes. */
export function mT(x: Value): Value {
  const r = shapeOf(x).length;
  const perm = [...Array(r).keys()];
  [perm[r - 1], perm[r - 2]] = [perm[r - 2]!, perm[r - 1]!];
  return transpose(x, perm);
}

// ---- broadcastTo -----------------------------------------------------------------------------
export const broadcastP = definePrimitive<{ shape: number[] }>({
  name: 'broadcastTo',
  shape: ([x], p) => {
    const s = x!.shape;
    const off = p.shape.length - s.length;
    if (off < 0 || s.some((d, i) => d !== 1 && d !== p.shape[off + i])) {
      throw new ShapeError(`broadcastTo: cannot broadcast ${fmtShape(s)} to ${fmtShape(p.shape)}`);
    }
    return [{ shape: p.shape, dtype: x!.dtype }];
  },
  lower: (ctx, [x], p) => [ctx.op('Expand', [x!, ctx.ints(p.shape)])],
  jvp: ([x], [dx], p) => [[broadcastTo(x!, p.shape)], [dx && broadcastTo(dx, p.shape)]],
  transpose: ([ct], [x]) => [ct && unbroadcast(ct, (x as Undefined).aval.shape)],
  batch: ([x], [d], p) => {
    // pad the example axes with leading ones so the batch axis stays in front
    const xb = batchFirst(x!, d!);
    const [n, ...s] = shapeOf(xb);
    const ones = new Array<number>(p.shape.length - s.length).fill(1);
    return [[broadcastTo(reshape(xb, [n!, ...ones, ...s]), [n!, ...p.shape])], [0]];
  },
});
export function broadcastTo(x: ArrayLike, shape: Shape): Value {
  const [v] = lift(x);
  if (shapesEqual(shapeOf(v!), shape)) return v!;
  return bind1(broadcastP, [v!], { shape: [...shape] });
}
/** Sum a broadcast result back down to `shape` (the transpose of broadcasting). */
export function unbroadcast(x: Value, shape: Shape): Value {
  const s = shapeOf(x);
  if (shapesEqual(s, shape)) return x;
  const off = s.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < s.length; i++) if (i < off || (shape[i - off] === 1 && s[i] !== 1)) axes.push(i);
  return reshape(sum(x, axes), shape);
}

// ---- concat ----------------------------------------------------------------------------------
export const concatP = definePrimitive<{ axis: number }>({
  name: 'concat',
  shape: (xs, p) => {
    const s0 = xs[0]!.shape;
    sameDType('concat', xs);
    let total = 0;
    for (const x of xs) {
      if (x.shape.length !== s0.length || x.shape.some((d, i) => i !== p.axis && d !== s0[i])) {
        throw new ShapeError(`concat: along axis ${p.axis}, inputs ${xs.map((a) => `${a.dtype}${fmtShape(a.shape)}`).join(', ')} must agree on every other axis`);
      }
      total += x.shape[p.axis]!;
    }
    const shape = [...s0];
    shape[p.axis] = total;
    return [{ shape, dtype: xs[0]!.dtype }];
  },
  lower: (ctx, xs, p) => [ctx.op('Concat', xs, { axis: p.axis })],
  jvp: (xs, dxs, p) => [
    [concat(xs, p.axis)],
    [dxs.every((d) => d === null) ? null : concat(dxs.map((d, i) => d ?? zerosOf(shapeOf(xs[i]!), dtypeOf(xs[i]!))), p.axis)],
  ],
  transpose: ([ct], xs, p) => {
    let off = 0;
    return xs.map((x) => {
      const s = x instanceof Undefined ? x.aval.shape : shapeOf(x);
      const start = off;
      off += s[p.axis]!;
      if (!(x instanceof Undefined) || !ct) return null;
      return sliceAxis(ct, p.axis, start, off);
    });
  },
  batch: (xs, ds, p) => {
    const n = batchSize(xs, ds);
    // unbatched pieces are repeated along the batch
    const parts = xs.map((x, i) => (ds[i] === null ? broadcastTo(expandDims(x, 0), [n, ...shapeOf(x)]) : batchFirst(x, ds[i]!)));
    return [[concat(parts, p.axis + 1)], [0]];
  },
});
export function concat(xs: readonly Value[], axis = 0): Value {
  if (xs.length === 0) throw new ShapeError('concat: needs at least one input');
  if (xs.length === 1) return xs[0]!;
  const a = normAxis('concat', axis, shapeOf(xs[0]!).length);
  return bind1(concatP, [...xs], { axis: a });
}
export function stack(xs: readonly Value[], axis = 0): Value {
  const s = shapeOf(xs[0]!);
  const a = axis < 0 ? axis + s.length + 1 : axis;
  return concat(xs.map((x) => expandDims(x, a)), a);
}

// ---- slice (unit step) -----------------------------------------------------------------------
export const sliceP = definePrimitive<{ starts: number[]; ends: number[] }>({
  name: 'slice',
  shape: ([x], p) => {
    const s = x!.shape;
    if (p.starts.length !== s.length || p.ends.length !== s.length || s.some((d, i) => p.starts[i]! < 0 || p.ends[i]! > d || p.starts[i]! > p.ends[i]!)) {
      throw new ShapeError(`slice: starts [${p.starts}] / ends [${p.ends}] do not fit ${fmtShape(s)}`);
    }
    return [{ shape: s.map((_, i) => p.ends[i]! - p.starts[i]!), dtype: x!.dtype }];
  },
  lower: (ctx, [x], p, info) => {
    const axes = info.inAvals[0]!.shape.map((_, i) => i);
    return [ctx.op('Slice', [x!, ctx.ints(p.starts), ctx.ints(p.ends), ctx.ints(axes)])];
  },
  jvp: ([x], [dx], p) => [[slice(x!, p.starts, p.ends)], [dx && slice(dx, p.starts, p.ends)]],
  transpose: ([ct], [x], p) => {
    const s = (x as Undefined).aval.shape;
    return [ct && pad(ct, s.map((d, i) => [p.starts[i]!, d - p.ends[i]!] as [number, number]))];
  },
  batch: ([x], [d], p) => {
    const xb = batchFirst(x!, d!);
    return [[slice(xb, [0, ...p.starts], [shapeOf(xb)[0]!, ...p.ends])], [0]];
  },
});
export function slice(x: Value, starts: readonly number[], ends: readonly number[]): Value {
  const s = shapeOf(x);
  if (starts.every((v, i) => v === 0 && ends[i] === s[i])) return x;
  return bind1(sliceP, [x], { starts: [...starts], ends: [...ends] });
}
/** x[..., start:end, ...] along one axis. */
export function sliceAxis(x: Value, axis: number, start: number, end: number): Value {
  const s = shapeOf(x);
  const a = normAxis('slice', axis, s.length);
  return slice(x, s.map((_, i) => (i === a ? start : 0)), s.map((d, i) => (i === a ? end : d)));
}

// ---- pad (constant zeros, non-negative) ------------------------------------------------------
export const padP = definePrimitive<{ pads: [number, number][] }>({
  name: 'pad',
  shape: ([x], p) => {
    const s = x!.shape;
    if (p.pads.length !== s.length || p.pads.some(([a, b]) => a < 0 || b < 0)) {
      throw new ShapeError(`pad: pads ${JSON.stringify(p.pads)} must give [before, after] >= 0 for each of the ${s.length} axes of ${fmtShape(s)}`);
    }
    return [{ shape: s.map((d, i) => d + p.pads[i]![0] + p.pads[i]![1]), dtype: x!.dtype }];
  },
  lower: (ctx, [x], p) => [ctx.op('Pad', [x!, ctx.ints([...p.pads.map((q) => q[0]), ...p.pads.map((q) => q[1])])], { mode: 'constant' })],
  jvp: ([x], [dx], p) => [[pad(x!, p.pads)], [dx && pad(dx, p.pads)]],
  transpose: ([ct], [x], p) => {
    const s = (x as Undefined).aval.shape;
    return [ct && slice(ct, p.pads.map((q) => q[0]), s.map((d, i) => p.pads[i]![0] + d))];
  },
  batch: ([x], [d], p) => [[pad(batchFirst(x!, d!), [[0, 0], ...p.pads])], [0]],
});
export function pad(x: Value, pads: readonly (readonly [number, number])[]): Value {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  return bind1(padP, [x], { pads: pads.map(([a, b]) => [a, b] as [number, number]) });
}

// ---- conveniences built from reshape ----------------------------------------------------------
export function expandDims(x: Value, axis: number): Value {
  const s = [...shapeOf(x)];
  const a = axis < 0 ? axis + s.length + 1 : axis;
  s.splice(a, 0, 1);
  return reshape(x, s);
}
export function squeeze(x: Value, axes?: readonly number[]): Value {
  const s = shapeOf(x);
  const ax = axes ? axes.map((a) => normAxis('squeeze', a, s.length)) : s.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of ax) if (s[a] !== 1) throw new ShapeError(`squeeze: axis ${a} of ${fmtShape(s)} has size ${s[a]}, not 1`);
  return reshape(x, s.filter((_, i) => !ax.includes(i)));
}
/** Flatten all axes from `startAxis` on (default 1: keep the batch axis). */
export function flatten(x: Value, startAxis = 1): Value {
  const s = shapeOf(x);
  return reshape(x, [...s.slice(0, startAxis), sizeOf(s.slice(startAxis))]);
}

// ---- moveAxis ------------------------------------------------------------------------------------
/** Move axis `from` of x to position `to`. */
export function moveAxis(x: Value, from: number, to: number): Value {
  const r = shapeOf(x).length;
  const f = normAxis('moveAxis', from, r);
  const t = normAxis('moveAxis', to, r);
  if (f === t) return x;
  const perm = [...Array(r).keys()].filter((a) => a !== f);
  perm.splice(t, 0, f);
  return transpose(x, perm);
}

// ---- reduceSum: the transpose of broadcasting (and broadcasting is its transpose) -------------
export type ReduceParams = { axes: number[]; keepdims: boolean };

export const reducedAval = (name: string, x: Aval, p: ReduceParams): Aval => {
  for (const a of p.axes) {
    if (a < 0 || a >= x.shape.length) throw new ShapeError(`${name}: axis ${a} out of range for ${fmtShape(x.shape)}`);
  }
  const shape = p.keepdims ? x.shape.map((d, i) => (p.axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !p.axes.includes(i));
  return { shape, dtype: x.dtype };
};
/** Reduced axes of an example, with the batch axis in front. */
export const shiftAxes = (axes: number[]) => axes.map((a) => a + 1);
export const keptShape = (s: readonly number[], axes: number[]) => s.map((d, i) => (axes.includes(i) ? 1 : d));

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

export const axesOf = (name: string, x: Value, axis?: number | readonly number[]): number[] => {
  const r = shapeOf(x).length;
  const ax = axis === undefined ? [...Array(r).keys()] : typeof axis === 'number' ? [axis] : [...axis];
  return [...new Set(ax.map((a) => normAxis(name, a, r)))].sort((a, b) => a - b);
};

export function sum(x: Value, axis?: number | readonly number[], keepdims = false): Value {
  const axes = axesOf('sum', x, axis);
  if (axes.length === 0) return x;
  return bind1(reduceSumP, [x], { axes, keepdims });
}

/** x with its batch axis `d` moved to the front (batching rules). */
export const batchFirst = (x: Value, d: number): Value => (d === 0 ? x : moveAxis(x, d, 0));
