/**
 * Pooling over the trailing (spatial) axes of N×C×… inputs, in any number of spatial dimensions.
 *
 * maxPool is a primitive: its forward pass is one ONNX MaxPool (float32 and float64 kernels exist),
 * where a composite would take the maximum of one strided slice per kernel offset. Its JVP is
 * written with those slices: the tangent is the input tangent at the first maximum of each window
 * (the element MaxPool's own argmax picks), so the reverse mode transposes slices and selects.
 * averagePool is a composite, so it needs no float64 kernel: where every window holds the same
 * number of counted cells it is a depthwise convolution with a constant kernel (one Conv node),
 * elsewhere a sum of the same slices over each window's count.
 *
 * np.maxPool and np.avgPool take PoolOptions with PyTorch's defaults (stride = the kernel size;
 * avgPool counts padding cells); the ONNX importer passes ONNX's (stride 1) explicitly.
 */
import type { DType } from '../core/dtype.js';
import { ShapeError } from '../core/errors.js';
import { definePrimitive, type Value } from '../core/primitive.js';
import { full, sizeOf, stridesOf, Tensor } from '../core/tensor.js';
import { bind1 } from '../core/trace.js';
import { convNd } from './convnd.js';
import { add, div, equal, where } from './elementwise.js';
import { batchFirst, fill, pad, reshape, zerosOf } from './shape.js';
import { stridedSlice } from './strided.js';
import { dtypeOf, fmtShape, shapeOf } from './util.js';

export interface PoolParams {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** ONNX order: the begin pads of every spatial axis, then the end pads. */
  pads: number[];
  /** Output sizes rounded up: a last, partial window where the input leaves one. */
  ceilMode: boolean;
  [k: string]: unknown;
}

/** Output size of one spatial axis (onnxruntime's rule: a ceil-mode window must start inside the input or its begin pad). */
export function pooledSize(n: number, k: number, s: number, d: number, before: number, after: number, ceilMode: boolean): number {
  const room = n + before + after - d * (k - 1) - 1;
  if (!ceilMode) return Math.floor(room / s) + 1;
  let out = Math.ceil(room / s) + 1;
  if ((out - 1) * s >= n + before) out--;
  return out;
}

export function checkPool(name: string, shape: readonly number[], p: PoolParams): number[] {
  const d = shape.length - 2;
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (d < 1 || p.kernel.length !== d || p.strides.length !== d || p.dilations.length !== d || p.pads.length !== 2 * d) {
    throw new ShapeError(
      `${name}: an input N×C×(${d} spatial axes) ${fmtShape(shape)} needs ${d} kernel sizes, strides and dilations and ${2 * d} pads, ` +
        `got kernel [${p.kernel}], strides [${p.strides}], dilations [${p.dilations}], pads [${p.pads}]`,
    );
  }
  if (![...p.kernel, ...p.strides, ...p.dilations].every(positive) || !p.pads.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new ShapeError(`${name}: kernel [${p.kernel}], strides [${p.strides}] and dilations [${p.dilations}] must be positive integers and pads [${p.pads}] non-negative`);
  }
  const out = shape.slice(2).map((n, i) => pooledSize(n, p.kernel[i]!, p.strides[i]!, p.dilations[i]!, p.pads[i]!, p.pads[i + d]!, p.ceilMode));
  if (out.some((o) => o < 1)) throw new ShapeError(`${name}: the kernel [${p.kernel}] (dilations [${p.dilations}]) does not fit the padded input ${fmtShape(shape)}`);
  return [shape[0]!, shape[1]!, ...out];
}

/**
 * The input padded (with `value`) to hold every window, and one strided slice of it per kernel
 * offset, in row-major kernel order: slice j holds element j of every window.
 */
function windows(x: Value, p: PoolParams, padWith: (x: Value, pads: [number, number][]) => Value): Value[] {
  const s = shapeOf(x);
  const d = s.length - 2;
  const out = checkPool('pool', s, p).slice(2);
  // ceil mode: room for the last, partial window
  const pads: [number, number][] = [[0, 0], [0, 0], ...s.slice(2).map((n, i) => {
    const need = (out[i]! - 1) * p.strides[i]! + p.dilations[i]! * (p.kernel[i]! - 1) + 1;
    return [p.pads[i]!, Math.max(p.pads[i + d]!, need - n - p.pads[i]!)] as [number, number];
  })];
  const xp = padWith(x, pads);
  const ps = shapeOf(xp);
  const offsets = p.kernel.reduce<number[][]>((acc, k) => acc.flatMap((o) => Array.from({ length: k }, (_, j) => [...o, j])), [[]]);
  return offsets.map((o) => {
    const starts = [0, 0, ...o.map((j, i) => j * p.dilations[i]!)];
    const ends = [ps[0]!, ps[1]!, ...o.map((j, i) => j * p.dilations[i]! + (out[i]! - 1) * p.strides[i]! + 1)];
    return stridedSlice(xp, starts, ends, [1, 1, ...p.strides]);
  });
}

/** Padding with −∞ (cells outside the input never win a maximum); the mask spans the spatial axes only. */
function padNegInf(x: Value, pads: [number, number][]): Value {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  const s = shapeOf(x);
  const ps = s.map((n, i) => n + pads[i]![0] + pads[i]![1]);
  const ms = [1, 1, ...ps.slice(2)];
  const outside = new Tensor('bool', ms);
  const strides = stridesOf(ms);
  for (let f = 0; f < outside.size; f++) {
    const inside = ms.every((_, i) => {
      if (i < 2) return true;
      const c = Math.floor(f / strides[i]!) % ms[i]!;
      return c >= pads[i]![0] && c < pads[i]![0] + s[i]!;
    });
    (outside.data as Uint8Array)[f] = inside ? 0 : 1;
  }
  return where(outside, fill(ms, -Infinity, dtypeOf(x)), pad(x, pads));
}

export const maxPoolP = definePrimitive<PoolParams>({
  name: 'maxPool',
  shape: ([x], p) => [{ shape: checkPool('maxPool', x!.shape, p), dtype: x!.dtype }],
  lower: (ctx, [x], p) => [ctx.op('MaxPool', [x!], poolAttrs(p))],
  jvp: ([x], [dx], p) => {
    const y = bind1(maxPoolP, [x!], p);
    if (!dx) return [[y], [null]];
    const xs = windows(x!, p, padNegInf);
    const dxs = windows(dx, p, pad);
    // the first window element equal to the maximum carries the tangent (ties: MaxPool's argmax)
    let t: Value = zerosOf(shapeOf(y), dtypeOf(y));
    for (let j = xs.length - 1; j >= 0; j--) t = where(equal(xs[j]!, y), dxs[j]!, t);
    return [[y], [t]];
  },
  // a batch folds into N
  batch: ([x], [d], p) => {
    const xb = batchFirst(x!, d!);
    const [b, n, ...rest] = shapeOf(xb) as number[];
    const y = bind1(maxPoolP, [reshape(xb, [b! * n!, ...rest])], p);
    return [[reshape(y, [b!, n!, ...shapeOf(y).slice(1)])], [0]];
  },
});

/** MaxPool's second output: the flat index of each window's maximum (storage order 0: row-major, 1: column-major). */
export const maxPoolIndicesP = definePrimitive<PoolParams & { storageOrder: number }>({
  name: 'maxPoolIndices',
  nondifferentiable: true,
  shape: ([x], p) => [{ shape: checkPool('maxPoolIndices', x!.shape, p), dtype: 'int64' }],
  lower: (ctx, [x], p) => [ctx.node('MaxPool', [x!], { ...poolAttrs(p), storage_order: p.storageOrder }, 2)[1]!],
});

function poolAttrs(p: PoolParams): Record<string, number | number[]> {
  return { kernel_shape: p.kernel, strides: p.strides, dilations: p.dilations, pads: p.pads, ceil_mode: p.ceilMode ? 1 : 0 };
}

/** Options of np.maxPool and np.avgPool, with PyTorch's defaults. */
export interface PoolOptions {
  /** Default: the kernel size on every spatial axis (non-overlapping windows), as PyTorch's pooling. */
  stride?: number | readonly number[];
  /** A number (every side), one per spatial axis (both sides), or ONNX's begins-then-ends list. */
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  /** Round output sizes up (a last, partial window). */
  ceilMode?: boolean;
}

export interface AvgPoolOptions extends PoolOptions {
  /** Divide by the whole window, padding cells included (default true, as PyTorch), or by the input cells in it only. */
  countIncludePad?: boolean;
}

export function poolParams(name: string, x: Value, kernel: number | readonly number[], o: PoolOptions): PoolParams {
  const d = shapeOf(x).length - 2;
  if (d < 1) throw new ShapeError(`${name}: expects an N×C×spatial input, got ${fmtShape(shapeOf(x))}`);
  const perAxis = (v: number | readonly number[] | undefined, dflt: number, what: string): number[] => {
    if (v === undefined) return new Array<number>(d).fill(dflt);
    if (typeof v === 'number') return new Array<number>(d).fill(v);
    if (v.length !== d) throw new ShapeError(`${name}: ${what} [${v}] needs one value per spatial axis (${d})`);
    return [...v];
  };
  const pads = o.padding === undefined || typeof o.padding === 'number'
    ? new Array<number>(2 * d).fill(o.padding ?? 0)
    : o.padding.length === d ? [...o.padding, ...o.padding] : [...o.padding];
  const kernels = perAxis(kernel, 1, 'kernel');
  return {
    kernel: kernels,
    strides: o.stride === undefined ? [...kernels] : perAxis(o.stride, 1, 'stride'),
    dilations: perAxis(o.dilation, 1, 'dilation'),
    pads,
    ceilMode: o.ceilMode ?? false,
  };
}

/** Max pooling over the spatial axes of an N×C×… input (1, 2, 3, … spatial dimensions). */
export function maxPool(x: Value, kernel: number | readonly number[], opts: PoolOptions = {}): Value {
  return bind1(maxPoolP, [x], poolParams('maxPool', x, kernel, opts));
}

/** Average pooling over the spatial axes of an N×C×… input (1, 2, 3, … spatial dimensions). */
export function avgPool(x: Value, kernel: number | readonly number[], opts: AvgPoolOptions = {}): Value {
  return averagePool(x, poolParams('avgPool', x, kernel, opts), opts.countIncludePad ?? true);
}

/**
 * Average pooling with ONNX AveragePool's rules, every parameter given: each window's sum over a
 * count that includes the padding (countIncludePad) or only the input cells, never the room a
 * ceil-mode window takes beyond the padding. Where every window counts all its cells, that is one
 * depthwise convolution with weights 1/|window|; elsewhere a sum of window slices over the counts.
 */
export function averagePool(x: Value, p: PoolParams, countIncludePad: boolean): Value {
  const s = shapeOf(x);
  const d = s.length - 2;
  const out = checkPool('averagePool', s, p).slice(2);
  const counts = windowCounts(s, p, out, countIncludePad, dtypeOf(x));
  const size = sizeOf(p.kernel);
  const sameOutput = out.every((o, i) => o === pooledSize(s[i + 2]!, p.kernel[i]!, p.strides[i]!, p.dilations[i]!, p.pads[i]!, p.pads[i + d]!, false));
  if (sameOutput && counts.toArray().every((c) => c === size)) {
    const c = s[1]!;
    return convNd(x, full([c, 1, ...p.kernel], 1 / size, dtypeOf(x)), { strides: p.strides, dilations: p.dilations, pads: p.pads, groups: c });
  }
  return div(windows(x, p, pad).reduce((a, b) => add(a, b)), counts);
}

/** How many cells of each window are counted: those in the padded input, or in the input only. */
function windowCounts(s: readonly number[], p: PoolParams, out: readonly number[], countIncludePad: boolean, dtype: DType): Tensor {
  const d = s.length - 2;
  const counts = new Tensor(dtype, [1, 1, ...out]);
  const strides = stridesOf(out);
  for (let f = 0; f < counts.size; f++) {
    let c = 1;
    out.forEach((_, i) => {
      const o = Math.floor(f / strides[i]!) % out[i]!;
      const [lo, hi] = countIncludePad ? [0, s[i + 2]! + p.pads[i]! + p.pads[i + d]!] : [p.pads[i]!, p.pads[i]! + s[i + 2]!];
      let k = 0;
      for (let j = 0; j < p.kernel[i]!; j++) {
        const at = o * p.strides[i]! + j * p.dilations[i]!;
        if (at >= lo && at < hi) k++;
      }
      c *= k;
    });
    (counts.data as Float64Array)[f] = c;
  }
  return counts;
}
