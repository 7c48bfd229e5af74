import type { DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import type { Aval } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { type Shape, Tensor, full } from '../core/tensor.js';
import { Tracer, avalOf } from '../core/trace.js';

/** What np.* functions accept: traced values, host tensors, or plain numbers (weakly typed). */
export type ArrayLike = Value | number;

export const isValue = (x: unknown): x is Value => x instanceof Tracer || x instanceof Tensor;

export const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;

/** Numpy broadcasting of two shapes; names the op in the error. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new ShapeError(
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (dimension ${i} of the result: ${x} vs ${y}). ` +
          `Reshape or transpose one operand so that trailing dimensions match or are 1.`,
      );
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

export function sameDType(op: string, avals: readonly Aval[]): DType {
  const d = avals[0]!.dtype;
  for (const a of avals) {
    if (a.dtype !== d) {
      throw new DTypeError(
        `${op}: dtypes differ (${avals.map((x) => `${x.dtype}${fmtShape(x.shape)}`).join(' vs ')}). ` +
          `Convert one operand with np.astype(x, '${d}').`,
      );
    }
  }
  return d;
}

export function requireFloat(op: string, a: Aval): void {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') {
    throw new DTypeError(`${op}: needs a float32 or float64 input, got ${a.dtype}${fmtShape(a.shape)}. Use np.astype(x, 'float32').`);
  }
}

/** Turn plain numbers into scalar tensors of the dtype of the first non-number operand. */
export function lift(...xs: ArrayLike[]): Value[] {
  const ref = xs.find(isValue);
  const dtype: DType = ref ? avalOf(ref).dtype : 'float32';
  return xs.map((x) => {
    if (typeof x !== 'number') return x;
    if ((dtype === 'int64' || dtype === 'int32') && !Number.isInteger(x)) {
      throw new DTypeError(`the number ${x} cannot combine with an ${dtype} operand without losing its fraction. Convert the operand first: np.astype(x, 'float32').`);
    }
    return full([], x, dtype);
  });
}

export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

export const shapeOf = (x: Value): Shape => avalOf(x).shape;
export const dtypeOf = (x: Value): DType => avalOf(x).dtype;
export const shapesEqual = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** The batch size (vmap): the length of the batch axis of the first batched input. */
export function batchSize(xs: readonly Value[], ds: readonly (number | null)[]): number {
  const i = ds.findIndex((d) => d !== null);
  return shapeOf(xs[i]!)[ds[i]!]!;
}
