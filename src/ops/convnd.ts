/**
 * Convolutions in 1, 2, 3, … spatial dimensions, written with conv2d / convTranspose2d: one
 * spatial axis is a conv2d with a height of 1; three or more sum, over the kernel's first axis,
 * lower-dimensional convolutions of strided slices (the transposed one places its pieces back with
 * the transpose of a strided slice). Derivatives follow from the primitives.
 */
import { ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { convTranspose2d, conv2d } from './conv.js';
import { add } from './elementwise.js';
import { pad, reshape, slice, sliceAxis, transpose } from './shape.js';
import { placeStrided, stridedSlice } from './strided.js';
import { fmtShape, shapeOf } from './util.js';

export interface ConvNdParams {
  strides: number[];
  dilations: number[];
  /** Begins of every spatial axis, then ends (non-negative). */
  pads: number[];
  groups: number;
}

const spatial = (name: string, x: Value, w: Value, p: ConvNdParams): number => {
  const d = shapeOf(x).length - 2;
  if (d < 1 || shapeOf(w).length !== d + 2 || p.strides.length !== d || p.dilations.length !== d || p.pads.length !== 2 * d) {
    throw new ShapeError(
      `${name}: input ${fmtShape(shapeOf(x))} and weight ${fmtShape(shapeOf(w))} need the same number of spatial axes (at least 1), ` +
        `with one stride and dilation and two pads per axis (got [${p.strides}], [${p.dilations}], [${p.pads}])`,
    );
  }
  return d;
};

/** The params of the spatial axes after the first one. */
const inner = (p: ConvNdParams, d: number): ConvNdParams => ({
  strides: p.strides.slice(1),
  dilations: p.dilations.slice(1),
  pads: [...p.pads.slice(1, d), ...p.pads.slice(d + 1)],
  groups: p.groups,
});

/** Move axis 2 (the first spatial one) next to N and fold the two: [N, C, D, …] → [N·D, C, …]. */
function foldDepth(x: Value): Value {
  const [n, c, dd, ...rest] = shapeOf(x) as number[];
  return reshape(transpose(x, [0, 2, 1, ...rest.map((_, i) => i + 3)]), [n! * dd!, c!, ...rest]);
}
function unfoldDepth(y: Value, n: number): Value {
  const [nd, c, ...rest] = shapeOf(y) as number[];
  return transpose(reshape(y, [n, nd! / n, c!, ...rest]), [0, 2, 1, ...rest.map((_, i) => i + 3)]);
}

/**
 * A 1-d or 2-d (transposed) convolution by the 2-d op: 1-d runs as 2-d on height 1 (stride,
 * dilation 1 and no padding along it).
 */
function via2d(op: typeof conv2d | typeof convTranspose2d, x: Value, w: Value, p: ConvNdParams, d: 1 | 2): Value {
  if (d === 2) {
    return op(x, w, { stride: [p.strides[0]!, p.strides[1]!], dilation: [p.dilations[0]!, p.dilations[1]!], padding: [p.pads[0]!, p.pads[1]!, p.pads[2]!, p.pads[3]!], groups: p.groups });
  }
  const [n, c, len] = shapeOf(x) as number[];
  const [o, cg, k] = shapeOf(w) as number[];
  const y = op(reshape(x, [n!, c!, 1, len!]), reshape(w, [o!, cg!, 1, k!]), {
    stride: [1, p.strides[0]!], dilation: [1, p.dilations[0]!], padding: [0, p.pads[0]!, 0, p.pads[1]!], groups: p.groups,
  });
  const ys = shapeOf(y);
  return reshape(y, [ys[0]!, ys[1]!, ys[3]!]);
}

/** N-d convolution, input N×C×…, weight O×(C/groups)×…. */
export function convNd(x: Value, w: Value, p: ConvNdParams): Value {
  const d = spatial('convNd', x, w, p);
  if (d === 1 || d === 2) return via2d(conv2d, x, w, p, d);
  const [n] = shapeOf(x) as number[];
  // three or more: sum over the first kernel axis of (d−1)-dimensional convolutions of depth slices
  const xp = pad(x, shapeOf(x).map((_, i) => (i === 2 ? [p.pads[0]!, p.pads[d]!] : [0, 0]) as [number, number]));
  const depth = shapeOf(xp)[2]!;
  const [s, dil, k] = [p.strides[0]!, p.dilations[0]!, shapeOf(w)[2]!];
  const out = Math.floor((depth - dil * (k - 1) - 1) / s) + 1;
  if (out < 1) throw new ShapeError(`convNd: the kernel ${fmtShape(shapeOf(w))} does not fit the padded input ${fmtShape(shapeOf(x))}`);
  let y: Value | undefined;
  for (let j = 0; j < k; j++) {
    const xs = shapeOf(xp);
    const starts = xs.map((_, i) => (i === 2 ? j * dil : 0));
    const ends = xs.map((e, i) => (i === 2 ? j * dil + (out - 1) * s + 1 : e));
    const part = stridedSlice(xp, starts, ends, xs.map((_, i) => (i === 2 ? s : 1)));
    const wj = reshape(sliceAxis(w, 2, j, j + 1), shapeOf(w).filter((_, i) => i !== 2));
    const yj = unfoldDepth(convNd(foldDepth(part), wj, inner(p, d)), n!);
    y = y ? add(y, yj) : yj;
  }
  return y!;
}

/**
 * N-d transposed convolution (the adjoint of convNd with the same weight and params), input
 * N×O×…, weight O×(C/groups)×…; each output axis has (in − 1)·stride + (k − 1)·dilation + 1 − pads.
 */
export function convTransposeNd(u: Value, w: Value, p: ConvNdParams): Value {
  const d = spatial('convTransposeNd', u, w, p);
  if (d === 1 || d === 2) return via2d(convTranspose2d, u, w, p, d);
  const [n] = shapeOf(u) as number[];
  const [s, dil, k] = [p.strides[0]!, p.dilations[0]!, shapeOf(w)[2]!];
  const depthIn = shapeOf(u)[2]!;
  const full = (depthIn - 1) * s + (k - 1) * dil + 1;
  const folded = foldDepth(u);
  let y: Value | undefined;
  for (let j = 0; j < k; j++) {
    const wj = reshape(sliceAxis(w, 2, j, j + 1), shapeOf(w).filter((_, i) => i !== 2));
    const part = unfoldDepth(convTransposeNd(folded, wj, inner(p, d)), n!);
    const ps = shapeOf(part);
    // input depth i lands at i·stride + j·dilation
    const target = ps.map((e, i) => (i === 2 ? full : e));
    const placed = placeStrided(part, target, {
      starts: ps.map((_, i) => (i === 2 ? j * dil : 0)),
      ends: ps.map((e, i) => (i === 2 ? j * dil + (depthIn - 1) * s + 1 : e)),
      steps: ps.map((_, i) => (i === 2 ? s : 1)),
    });
    y = y ? add(y, placed) : placed;
  }
  const ys = shapeOf(y!);
  if (full - p.pads[0]! - p.pads[d]! < 1) throw new ShapeError(`convTransposeNd: pads [${p.pads}] crop the whole output`);
  return slice(y!, ys.map((_, i) => (i === 2 ? p.pads[0]! : 0)), ys.map((e, i) => (i === 2 ? full - p.pads[d]! : e)));
}
