import ndarray from 'ndarray';
import { allFiniteSimd } from './finite.js';
import { type AnyTypedArray, type DType, allocate } from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';

export type Shape = readonly number[];

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides (in elements) of a shape. */
export const stridesOf = (shape: Shape): number[] => shape.map((_, i) => sizeOf(shape.slice(i + 1)));

/**
 * `allFinite`, remembered per tensor once true (tensors are immutable by convention): what jit
 * checks its inputs with, so a tensor passed again, or checked before, is not read again.
 */
export let finiteOnce: (t: Tensor) => boolean;

/**
 * A host tensor: a flat typed array, a shape and a dtype. Immutable by convention.
 * `view()` gives an ndarray over the same memory for host-side work.
 */
export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly data: AnyTypedArray;
  /** Found finite by `finiteOnce` (a private field: invisible to callers and to equality checks). */
  #finite = false;

  static {
    finiteOnce = (t) => t.#finite || (t.#finite = allFinite(t));
  }

  constructor(dtype: DType, shape: Shape, data?: AnyTypedArray) {
    const size = sizeOf(shape);
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`Tensor: invalid shape [${shape}]: dimensions must be non-negative integers`);
    }
    const buf = data ?? allocate(dtype, size);
    if (buf.length !== size) {
      throw new ShapeError(`Tensor: data has ${buf.length} elements but shape [${shape}] needs ${size}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = buf;
  }

  get size(): number { return this.data.length; }
  get rank(): number { return this.shape.length; }

  /** An ndarray view over the same memory (row-major). */
  view(): ndarray.NdArray<AnyTypedArray> {
    return ndarray<AnyTypedArray>(this.data, [...this.shape]);
  }

  /** Values as JS numbers (int64 converted). */
  toArray(): number[] {
    return Array.from(this.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`Tensor.item: tensor has shape [${this.shape}], not one element`);
    return Number(this.data[0]);
  }

  astype(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    const out = allocate(dtype, this.size);
    for (let i = 0; i < this.size; i++) {
      const v = this.data[i];
      if (dtype === 'int64') (out as BigInt64Array)[i] = BigInt(Math.trunc(Number(v)));
      else (out as Float64Array)[i] = Number(v);
    }
    return new Tensor(dtype, this.shape, out);
  }

  reshape(shape: Shape): Tensor { return new Tensor(this.dtype, shape, this.data); }

  toString(): string { return `Tensor(${this.dtype}, [${this.shape}])`; }
}

function flatten(x: unknown, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(x)) {
    if (shape.length <= depth) shape.push(x.length);
    else if (shape[depth] !== x.length) throw new ShapeError(`tensor(): ragged nested array at depth ${depth}`);
    for (const e of x) flatten(e, shape, out, depth + 1);
  } else if (typeof x === 'number' || typeof x === 'boolean') {
    if (depth !== shape.length) throw new ShapeError(`tensor(): ragged nested array at depth ${depth}`);
    out.push(Number(x));
  } else {
    throw new DTypeError(`tensor(): expected numbers or nested arrays of numbers, got ${typeof x}`);
  }
}

/** Build a host tensor from a number, nested arrays or a typed array (with a shape). */
export function tensor(values: unknown, dtype: DType = 'float32', shape?: Shape): Tensor {
  if (ArrayBuffer.isView(values)) {
    const arr = values as unknown as ArrayLike<number>;
    const s = shape ?? [arr.length];
    const t = new Tensor(dtype, s);
    for (let i = 0; i < t.size; i++) {
      if (dtype === 'int64') (t.data as BigInt64Array)[i] = BigInt(arr[i] as number);
      else (t.data as Float64Array)[i] = Number(arr[i]);
    }
    return t;
  }
  const s: number[] = [];
  const flat: number[] = [];
  flatten(values, s, flat, 0);
  const t = new Tensor(dtype, shape ?? s);
  if (t.size !== flat.length) throw new ShapeError(`tensor(): ${flat.length} values do not fit shape [${shape}]`);
  for (let i = 0; i < flat.length; i++) {
    if (dtype === 'int64') (t.data as BigInt64Array)[i] = BigInt(Math.trunc(flat[i]!));
    else (t.data as Float64Array)[i] = flat[i]!;
  }
  return t;
}

export const zeros = (shape: Shape, dtype: DType = 'float32'): Tensor => new Tensor(dtype, shape);
export const full = (shape: Shape, value: number, dtype: DType = 'float32'): Tensor => {
  const t = new Tensor(dtype, shape);
  if (dtype === 'int64') (t.data as BigInt64Array).fill(BigInt(value));
  else (t.data as Float64Array).fill(value);
  return t;
};
export const ones = (shape: Shape, dtype: DType = 'float32'): Tensor => full(shape, 1, dtype);
export const scalar = (value: number, dtype: DType = 'float32'): Tensor => full([], value, dtype);

/** True when every element is finite (integers and bools always are). */
export function allFinite(t: Tensor): boolean {
  if (t.dtype === 'float32') return allFiniteSimd(t.data as Float32Array) ?? finiteF32(t.data as Float32Array);
  if (t.dtype === 'float64') return allFiniteSimd(t.data as Float64Array) ?? finiteF64(t.data as Float64Array);
  return true;
}

// v * 0 is 0 for finite v and NaN for NaN or ±Inf, so a sum of them is 0 exactly when all are
// finite: a branch-free loop with four independent accumulators, one copy per array type so each
// stays monomorphic (about 4x faster than Number.isFinite per element; jit checks every input).
function finiteF32(d: Float32Array): boolean {
  let a = 0, b = 0, c = 0, e = 0, i = 0;
  for (const n = d.length & ~3; i < n; i += 4) { a += d[i]! * 0; b += d[i + 1]! * 0; c += d[i + 2]! * 0; e += d[i + 3]! * 0; }
  for (; i < d.length; i++) a += d[i]! * 0;
  return a + b + c + e === 0;
}
function finiteF64(d: Float64Array): boolean {
  let a = 0, b = 0, c = 0, e = 0, i = 0;
  for (const n = d.length & ~3; i < n; i += 4) { a += d[i]! * 0; b += d[i + 1]! * 0; c += d[i + 2]! * 0; e += d[i + 3]! * 0; }
  for (; i < d.length; i++) a += d[i]! * 0;
  return a + b + c + e === 0;
}

/** [0, 1, …, n − 1] as int64 (indices to compare against, e.g. for one-hot masks). */
export const iota = (n: number): Tensor => new Tensor('int64', [n], BigInt64Array.from({ length: n }, (_, i) => BigInt(i)));

/** value · I, n × n. */
export function eye(n: number, dtype: DType = 'float32', value = 1): Tensor {
  const t = new Tensor(dtype, [n, n]);
  for (let i = 0; i < n; i++) (t.data as Float64Array)[i * n + i] = value;
  return t;
}
