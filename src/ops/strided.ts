/**
 * stridedSlice: x[start:end:step] on every axis, steps of either sign (ONNX Slice with steps), and
 * flip built on it. Linear: its transpose places the cotangent back at every step-th position (a
 * reshape and pad that interleave zeros, then a pad to the slice's offset).
 */
import { ShapeError } from '../core/errors.js';
import { definePrimitive, type Primitive, Undefined, type Value } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { batchFirst, pad, reshape, slice, zerosOf } from './shape.js';
import { dtypeOf, fmtShape, normAxis, shapeOf } from './util.js';

export interface StridedParams {
  /** First index taken on each axis, in [0, n - 1] (any value when the axis comes out empty). */
  starts: number[];
  /** Exclusive end on each axis: in [start, n] for a positive step, in [-1, start] for a negative one. */
  ends: number[];
  /** Non-zero steps. */
  steps: number[];
  [k: string]: unknown;
}

/** Elements a slice takes on one axis. */
export const stridedLength = (start: number, end: number, step: number): number =>
  Math.max(0, Math.ceil((end - start) / step));

function checkStrided(s: readonly number[], p: StridedParams): void {
  const ok = p.starts.length === s.length && p.ends.length === s.length && p.steps.length === s.length &&
    s.every((n, i) => {
      const [a, b, st] = [p.starts[i]!, p.ends[i]!, p.steps[i]!];
      if (!Number.isInteger(a) || !Number.isInteger(b) || !Number.isInteger(st) || st === 0) return false;
      if (stridedLength(a, b, st) === 0) return true;
      return st > 0 ? a >= 0 && b <= n : a <= n - 1 && b >= -1;
    });
  if (!ok) {
    throw new ShapeError(
      `stridedSlice: starts [${p.starts}], ends [${p.ends}], steps [${p.steps}] do not fit ${fmtShape(s)}: ` +
        'give one non-zero integer step per axis and indices inside the axis (ends are exclusive; -1 ends a negative step at index 0)',
    );
  }
}

export const stridedSliceP: Primitive<StridedParams> = definePrimitive<StridedParams>({
  name: 'stridedSlice',
  shape: ([x], p) => {
    checkStrided(x!.shape, p);
    return [{ shape: x!.shape.map((_, i) => stridedLength(p.starts[i]!, p.ends[i]!, p.steps[i]!)), dtype: x!.dtype }];
  },
  lower: (ctx, [x], p, info) => {
    const axes = info.inAvals[0]!.shape.map((_, i) => i);
    // ONNX reads a negative end as counting from the back: an end before index 0 is written as a very negative number
    const ends = p.ends.map((e) => (e < 0 ? -(2 ** 62) : e));
    return [ctx.op('Slice', [x!, ctx.ints(p.starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(p.steps)])];
  },
  jvp: ([x], [dx], p) => [[bind1(stridedSliceP, [x!], p)], [dx && bind1(stridedSliceP, [dx], p)]],
  transpose: ([ct], [x], p) => [ct && placeStrided(ct, (x as Undefined).aval.shape, p)],
  batch: ([x], [d], p) => {
    const xb = batchFirst(x!, d!);
    const n = shapeOf(xb)[0]!;
    return [[bind1(stridedSliceP, [xb], { starts: [0, ...p.starts], ends: [n, ...p.ends], steps: [1, ...p.steps] })], [0]];
  },
});

/** The transpose of a strided slice: `ct` placed at the sliced positions of zeros of `shape`. */
export function placeStrided(ct: Value, shape: readonly number[], p: StridedParams): Value {
  const out = shapeOf(ct);
  if (out.some((m) => m === 0)) return zerosOf(shape, dtypeOf(ct));
  // walk negative steps forwards: flip those axes, and start from the last position taken
  const negative = p.steps.flatMap((st, i) => (st < 0 ? [i] : []));
  let y = negative.length ? flip(ct, negative) : ct;
  for (let i = 0; i < shape.length; i++) {
    const m = out[i]!;
    const step = Math.abs(p.steps[i]!);
    const first = p.steps[i]! > 0 ? p.starts[i]! : p.starts[i]! + (m - 1) * p.steps[i]!;
    const s = shapeOf(y);
    if (step > 1 && m > 1) {
      // interleave step - 1 zeros after each element: [.., m, ..] → [.., m, step, ..] → [.., m·step, ..]
      const split = [...s.slice(0, i + 1), 1, ...s.slice(i + 1)];
      const widened = pad(reshape(y, split), split.map((_, k) => (k === i + 1 ? [0, step - 1] : [0, 0]) as [number, number]));
      const long = reshape(widened, s.map((d, k) => (k === i ? d * step : d)));
      const ls = shapeOf(long);
      y = slice(long, ls.map(() => 0), ls.map((d, k) => (k === i ? (m - 1) * step + 1 : d)));
    }
    const span = (m - 1) * step + 1;
    const ys = shapeOf(y);
    y = pad(y, ys.map((_, k) => (k === i ? [first, shape[i]! - first - span] : [0, 0]) as [number, number]));
  }
  return y;
}

/**
 * x[start:end:step] per axis, with numpy's rules for a given start, end and step: negative indices
 * count from the back, and out-of-range ones are clamped.
 */
export function stridedSlice(x: Value, starts: readonly number[], ends: readonly number[], steps: readonly number[]): Value {
  const s = shapeOf(x);
  if (starts.length !== s.length || ends.length !== s.length || steps.length !== s.length) {
    throw new ShapeError(`stridedSlice: give one start, end and step per axis of ${fmtShape(s)}, got [${starts}], [${ends}], [${steps}]`);
  }
  const p: StridedParams = { starts: [], ends: [], steps: [...steps] };
  s.forEach((n, i) => {
    const [a, b] = clampSlice(starts[i]!, ends[i]!, steps[i]!, n);
    p.starts.push(a);
    p.ends.push(b);
  });
  return bindStrided(x, p);
}

/** Bind the primitive, with empty axes written as [0:0:1] and unit steps as a plain slice. */
function bindStrided(x: Value, p: StridedParams): Value {
  const q: StridedParams = { starts: [...p.starts], ends: [...p.ends], steps: [...p.steps] };
  q.steps.forEach((st, i) => {
    if (stridedLength(q.starts[i]!, q.ends[i]!, st) === 0) [q.starts[i], q.ends[i], q.steps[i]] = [0, 0, 1];
  });
  if (q.steps.every((st) => st === 1)) return slice(x, q.starts, q.ends);
  return bind1(stridedSliceP, [x], q);
}

/** numpy's (and ONNX Slice's) resolution of start and end on an axis of length n. */
export function clampSlice(start: number, end: number, step: number, n: number): [number, number] {
  if (step === 0 || !Number.isInteger(step)) throw new ShapeError(`stridedSlice: steps must be non-zero integers, got ${step}`);
  const norm = (v: number) => (v < 0 ? v + n : v);
  if (step > 0) return [Math.min(Math.max(norm(start), 0), n), Math.min(Math.max(norm(end), 0), n)];
  return [Math.min(Math.max(norm(start), -1), n - 1), Math.min(Math.max(norm(end), -1), n - 1)];
}

/** Reverse the order of elements along the given axes. */
export function flip(x: Value, axes: number | readonly number[]): Value {
  const s = shapeOf(x);
  const ax = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis('flip', a, s.length));
  if (ax.length === 0) return x;
  return bindStrided(x, {
    starts: s.map((n, i) => (ax.includes(i) ? n - 1 : 0)),
    ends: s.map((n, i) => (ax.includes(i) ? -1 : n)),
    steps: s.map((_, i) => (ax.includes(i) ? -1 : 1)),
  });
}
