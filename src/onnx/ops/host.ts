/**
 * Arithmetic on host tensors, for the parts of a model that are known at import (trace) time:
 * shape computations (Shape → Gather → Concat → Reshape), integer constants, and anything else
 * whose inputs are all constants other than weights. Integers are exact up to 2^53 (shapes);
 * int64 results are clamped to the int64 range, as ONNX's INT64_MAX "to the end" sentinels need.
 */
import { type DType, isFloat } from '../../core/dtype.js';
import { ShapeError } from '../../core/errors.js';
import { Tensor, sizeOf, stridesOf } from '../../core/tensor.js';
import { broadcastShapes } from '../../ops/util.js';

/** Folding stays small: shape arithmetic needs a few elements, and a model must not make the import allocate without bound. */
export const MAX_FOLDED_ELEMENTS = 1 << 24;

/** Refuse a folded result larger than MAX_FOLDED_ELEMENTS. */
export function checkFoldedSize(op: string, shape: readonly number[]): void {
  const n = sizeOf(shape);
  if (!(n <= MAX_FOLDED_ELEMENTS)) {
    throw new ShapeError(`${op}: folding it at import would make a tensor of ${n} elements [${shape}] (at most ${MAX_FOLDED_ELEMENTS} are folded)`);
  }
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** A host tensor from JS numbers (int64 clamped, int32 wrapped, bool as 0/1). */
export function hostTensor(dtype: DType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  checkFoldedSize('a folded value', shape);
  const t = new Tensor(dtype, shape);
  const d = t.data;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === 'int64') {
      const b = Number.isFinite(v) ? BigInt(Math.trunc(v)) : v > 0 ? INT64_MAX : INT64_MIN;
      (d as BigInt64Array)[i] = b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
    } else if (dtype === 'bool') (d as Uint8Array)[i] = v ? 1 : 0;
    else (d as Float64Array)[i] = v;
  }
  return t;
}


/** A tensor of `shape` whose element at each multi-index is `x`'s element at `source(index)` (a flat index). */
function gatherBy(x: Tensor, shape: readonly number[], source: (index: number[]) => number): Tensor {
  checkFoldedSize('a folded value', shape);
  const out = new Tensor(x.dtype, shape);
  const st = stridesOf(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < out.size; f++) {
    for (let i = 0; i < shape.length; i++) idx[i] = Math.floor(f / st[i]!) % shape[i]!;
    (out.data as Float64Array)[f] = (x.data as Float64Array)[source(idx)]!;
  }
  return out;
}

export function hostTranspose(x: Tensor, perm: readonly number[]): Tensor {
  const st = stridesOf(x.shape);
  return gatherBy(x, perm.map((p) => x.shape[p]!), (idx) => idx.reduce((f, v, i) => f + v * st[perm[i]!]!, 0));
}

/** Resolved strided slice (starts/ends/steps per axis, as stridedSlice takes them). */
export function hostSlice(x: Tensor, starts: readonly number[], ends: readonly number[], steps: readonly number[]): Tensor {
  const st = stridesOf(x.shape);
  const shape = x.shape.map((_, i) => Math.max(0, Math.ceil((ends[i]! - starts[i]!) / steps[i]!)));
  return gatherBy(x, shape, (idx) => idx.reduce((f, v, i) => f + (starts[i]! + v * steps[i]!) * st[i]!, 0));
}

export function hostGather(x: Tensor, indices: Tensor, axis: number): Tensor {
  const n = x.shape[axis]!;
  const ids = indices.toArray().map((k) => {
    if (k < -n || k >= n) throw new ShapeError(`Gather: index ${k} is out of range for an axis of length ${n}`);
    return k < 0 ? k + n : k;
  });
  const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  const st = stridesOf(x.shape);
  const ist = stridesOf(indices.shape);
  const r = indices.rank;
  return gatherBy(x, shape, (idx) => {
    let f = 0;
    for (let i = 0; i < axis; i++) f += idx[i]! * st[i]!;
    let k = 0;
    for (let j = 0; j < r; j++) k += idx[axis + j]! * ist[j]!;
    f += ids[k]! * st[axis]!;
    for (let i = axis + 1; i < x.rank; i++) f += idx[i + r - 1]! * st[i]!;
    return f;
  });
}

export function hostConcat(xs: readonly Tensor[], axis: number): Tensor {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((a, t) => a + t.shape[axis]!, 0);
  checkFoldedSize('Concat', shape);
  const out = new Tensor(xs[0]!.dtype, shape);
  const outer = sizeOf(shape.slice(0, axis));
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of xs) {
      const chunk = sizeOf(t.shape.slice(axis));
      (out.data as Float64Array).set((t.data as Float64Array).subarray(o * chunk, (o + 1) * chunk), pos);
      pos += chunk;
    }
  }
  return out;
}

/** Numpy broadcast of a tensor to `shape` (which must be a broadcast of its shape). */
export function hostBroadcast(x: Tensor, shape: readonly number[]): Tensor {
  const off = shape.length - x.rank;
  const st = stridesOf(x.shape);
  return gatherBy(x, shape, (idx) => x.shape.reduce((f, d, i) => f + (d === 1 ? 0 : idx[i + off]!) * st[i]!, 0));
}

/** Elementwise op on JS numbers with numpy broadcasting; int results truncate, bools are 0/1. */
export function hostElementwise(op: string, xs: readonly Tensor[], f: (...v: number[]) => number, dtype: DType = xs[0]!.dtype): Tensor {
  const shape = xs.reduce<number[]>((s, t) => broadcastShapes(op, s, t.shape), []);
  checkFoldedSize(op, shape);
  const vals = xs.map((t) => hostBroadcast(t, shape).toArray());
  const n = sizeOf(shape);
  const out = new Array<number>(n);
  const integer = !isFloat(dtype) && dtype !== 'bool';
  for (let i = 0; i < n; i++) {
    const v = f(...vals.map((a) => a[i]!));
    out[i] = integer ? Math.trunc(v) : v;
  }
  return hostTensor(dtype, shape, out);
}

/** Reduce over axes (sorted, normalised) with an associative op and its identity. */
export function hostReduce(x: Tensor, axes: readonly number[], keep: boolean, f: (a: number, b: number) => number, init: number): Tensor {
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const ost = stridesOf(outShape);
  const st = stridesOf(x.shape);
  const acc = new Array<number>(sizeOf(outShape)).fill(init);
  const v = x.toArray();
  for (let f0 = 0; f0 < v.length; f0++) {
    let o = 0;
    for (let i = 0; i < x.rank; i++) if (!axes.includes(i)) o += (Math.floor(f0 / st[i]!) % x.shape[i]!) * ost[i]!;
    acc[o] = f(acc[o]!, v[f0]!);
  }
  const t = hostTensor(x.dtype, outShape, acc);
  return keep ? t : t.reshape(x.shape.filter((_, i) => !axes.includes(i)));
}

/** A host tensor's values cast to `dtype` (float → integer truncates toward zero, as ONNX Cast does). */
export function hostCast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return hostTensor(dtype, x.shape, x.toArray().map((v) => (dtype === 'bool' ? (v !== 0 ? 1 : 0) : isFloat(dtype) ? v : Math.trunc(v))));
}
