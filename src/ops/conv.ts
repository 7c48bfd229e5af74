/**
 * conv2d (NCHW, stride, padding, dilation, groups) and its transpose convTranspose2d. Both are
 * bilinear; their transpose rules are written with conv2d, convTranspose2d and shape primitives.
 * onnxruntime has no float64 Conv/ConvTranspose kernel, so float64 lowers to Pad/Slice/MatMul.
 */
import { ShapeError, TransformError } from '../core/errors.js';
import type { LowerCtx, Primitive, Value } from '../core/primitive.js';
import { definePrimitive, Undefined } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { add } from './elementwise.js';
import { batchFirst, pad, reshape, slice, transpose } from './shape.js';
import { fmtShape, sameDType, shapeOf } from './util.js';

export interface ConvParams {
  stride: [number, number];
  /** [top, left, bottom, right] */
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
  [k: string]: unknown;
}
/** convTranspose2d also records the spatial size of the conv input it maps back to. */
export interface ConvTParams extends ConvParams {
  outHW: [number, number];
}

const outSize = (n: number, k: number, s: number, d: number, p0: number, p1: number) =>
  Math.floor((n + p0 + p1 - d * (k - 1) - 1) / s) + 1;

function checkConv(name: string, x: readonly number[], w: readonly number[], p: ConvParams): void {
  if (x.length !== 4 || w.length !== 4) {
    throw new ShapeError(`${name}: expects input NCHW and weight OIHW (rank 4), got ${fmtShape(x)} and ${fmtShape(w)}`);
  }
  if (p.groups < 1 || !Number.isInteger(p.groups)) throw new ShapeError(`${name}: groups must be a positive integer, got ${p.groups}`);
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (!p.stride.every(positive) || !p.dilation.every(positive) || !p.padding.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new ShapeError(
      `${name}: stride [${p.stride}] and dilation [${p.dilation}] must be positive integers and padding [${p.padding}] non-negative integers`,
    );
  }
}

export const conv2dP: Primitive<ConvParams> = definePrimitive<ConvParams>({
  name: 'conv2d',
  shape: ([x, w], p) => {
    const d = sameDType('conv2d', [x!, w!]);
    checkConv('conv2d', x!.shape, w!.shape, p);
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const [o, cg, kh, kw] = w!.shape as [number, number, number, number];
    if (c !== cg * p.groups || o % p.groups !== 0) {
      throw new ShapeError(
        `conv2d: input ${fmtShape(x!.shape)} has ${c} channels but weight ${fmtShape(w!.shape)} with groups=${p.groups} expects ${cg * p.groups} ` +
          `(and ${o} output channels must divide by groups)`,
      );
    }
    const ho = outSize(h, kh, p.stride[0], p.dilation[0], p.padding[0], p.padding[2]);
    const wo = outSize(wd, kw, p.stride[1], p.dilation[1], p.padding[1], p.padding[3]);
    if (ho < 1 || wo < 1) throw new ShapeError(`conv2d: kernel ${kh}x${kw} does not fit the padded input ${fmtShape(x!.shape)}`);
    return [{ shape: [n, o, ho, wo], dtype: d }];
  },
  lower: (ctx, [x, w], p, info) => {
    if (info.inAvals[0]!.dtype === 'float64') return [lowerConvAsMatmul(ctx, x!, w!, p, info.inAvals[0]!.shape, info.inAvals[1]!.shape)];
    return [ctx.op('Conv', [x!, w!], { strides: p.stride, pads: p.padding, dilations: p.dilation, group: p.groups })];
  },
  jvp: ([x, w], [dx, dw], p) => {
    const out = bind1(conv2dP, [x!, w!], p);
    const a = dx && bind1(conv2dP, [dx, w!], p);
    const b = dw && bind1(conv2dP, [x!, dw], p);
    return [[out], [a && b ? add(a, b) : a ?? b]];
  },
  transpose: ([ct], [x, w], p) => {
    if (!ct) return [null, null];
    if (x instanceof Undefined && w instanceof Undefined) throw new TransformError('conv2d: both operands are linear');
    if (x instanceof Undefined) {
      const [, , h, wd] = x.aval.shape as number[];
      return [bind1(convTransposeP, [ct, w as Value], { ...p, outHW: [h!, wd!] }), null];
    }
    return [null, convWeightGrad(x as Value, ct, p, (w as Undefined).aval.shape)];
  },
  // batched input, shared weight: fold the batch axis into N; a batched weight is unrolled
  batch: ([x, w], [dx, dw], p) => {
    if (dx === null || dw !== null) return null;
    const xb = batchFirst(x!, dx);
    const [b, n, ...chw] = shapeOf(xb) as number[];
    const y = bind1(conv2dP, [reshape(xb, [b! * n!, ...chw]), w!], p);
    return [[reshape(y, [b!, n!, ...shapeOf(y).slice(1)])], [0]];
  },
});

export const convTransposeP: Primitive<ConvTParams> = definePrimitive<ConvTParams>({
  name: 'convTranspose2d',
  shape: ([u, w], p) => {
    const d = sameDType('convTranspose2d', [u!, w!]);
    checkConv('convTranspose2d', u!.shape, w!.shape, p);
    const [n, o, hi, wi] = u!.shape as [number, number, number, number];
    const [wo, cg, kh, kw] = w!.shape as [number, number, number, number];
    if (o !== wo) throw new ShapeError(`convTranspose2d: input ${fmtShape(u!.shape)} has ${o} channels, weight ${fmtShape(w!.shape)} expects ${wo}`);
    const [h, wd] = p.outHW;
    if (outSize(h, kh, p.stride[0], p.dilation[0], p.padding[0], p.padding[2]) !== hi || outSize(wd, kw, p.stride[1], p.dilation[1], p.padding[1], p.padding[3]) !== wi) {
      throw new ShapeError(`convTranspose2d: output size ${h}x${wd} does not map to input ${hi}x${wi} under these conv params`);
    }
    return [{ shape: [n, cg * p.groups, h, wd], dtype: d }];
  },
  lower: (ctx, [u, w], p, info) => {
    const us = info.inAvals[0]!.shape;
    const ws = info.inAvals[1]!.shape;
    const [sh, sw] = p.stride;
    const [dh, dw] = p.dilation;
    const [kh, kw] = [ws[2]!, ws[3]!];
    const [h, wd] = p.outHW;
    // output_padding makes the transposed conv produce exactly the conv input size
    const oph = h - (sh * (us[2]! - 1) + (kh - 1) * dh + 1 - p.padding[0] - p.padding[2]);
    const opw = wd - (sw * (us[3]! - 1) + (kw - 1) * dw + 1 - p.padding[1] - p.padding[3]);
    if (info.inAvals[0]!.dtype !== 'float64') {
      return [ctx.op('ConvTranspose', [u!, w!], { strides: p.stride, pads: p.padding, dilations: p.dilation, group: p.groups, output_padding: [oph, opw] })];
    }
    // float64: insert stride-1 zeros between input pixels, pad, and convolve with the flipped,
    // in/out-swapped kernel at stride 1.
    const [n, o, hi, wi] = us as [number, number, number, number];
    const g = p.groups;
    const og = o / g;
    const cg = ws[1]!;
    const u6 = ctx.op('Reshape', [u!, ctx.ints([n, o, hi, 1, wi, 1])]);
    const z = ctx.op('Pad', [u6, ctx.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1])]);
    const dil = ctx.op('Reshape', [z, ctx.ints([n, o, hi * sh, wi * sw])]);
    const top = (kh - 1) * dh - p.padding[0];
    const left = (kw - 1) * dw - p.padding[1];
    const bottom = (kh - 1) * dh - p.padding[2] + oph - (sh - 1);
    const right = (kw - 1) * dw - p.padding[3] + opw - (sw - 1);
    const padded = ctx.op('Pad', [dil, ctx.ints([0, 0, top, left, 0, 0, bottom, right])]);
    const w5 = ctx.op('Reshape', [w!, ctx.ints([g, og, cg, kh, kw])]);
    const wt = ctx.op('Transpose', [w5], { perm: [0, 2, 1, 3, 4] });
    const w4 = ctx.op('Reshape', [wt, ctx.ints([g * cg, og, kh, kw])]);
    const big = 2 ** 62;
    const flipped = ctx.op('Slice', [w4, ctx.ints([-1, -1]), ctx.ints([-big, -big]), ctx.ints([2, 3]), ctx.ints([-1, -1])]);
    const ps = [n, o, hi * sh + top + bottom, wi * sw + left + right];
    return [lowerConvAsMatmul(ctx, padded, flipped, { stride: [1, 1], padding: [0, 0, 0, 0], dilation: p.dilation, groups: g }, ps, [g * cg, og, kh, kw])];
  },
  jvp: ([u, w], [du, dw], p) => {
    const out = bind1(convTransposeP, [u!, w!], p);
    const a = du && bind1(convTransposeP, [du, w!], p);
    const b = dw && bind1(convTransposeP, [u!, dw], p);
    return [[out], [a && b ? add(a, b) : a ?? b]];
  },
  transpose: ([ct], [u, w], p) => {
    if (!ct) return [null, null];
    if (u instanceof Undefined && w instanceof Undefined) throw new TransformError('convTranspose2d: both operands are linear');
    const cp: ConvParams = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups };
    if (u instanceof Undefined) return [bind1(conv2dP, [ct, w as Value], cp), null];
    // <v, convT(u, w)> = <conv(v, w), u>: as a function of w that is the conv weight gradient
    return [null, convWeightGrad(ct, u as Value, cp, (w as Undefined).aval.shape)];
  },
});

/**
 * d<ct, conv(x, w)>/dw written as a conv: batch and channel axes swap roles, stride and dilation swap.
 */
export function convWeightGrad(x: Value, ct: Value, p: ConvParams, wShape: readonly number[]): Value {
  const [n, c, h, wd] = shapeOf(x) as [number, number, number, number];
  const [, o, ho, wo] = shapeOf(ct) as [number, number, number, number];
  const g = p.groups;
  const cg = c / g;
  const og = o / g;
  const [kh, kw] = [wShape[2]!, wShape[3]!];
  const xp = pad(x, [[0, 0], [0, 0], [p.padding[0], p.padding[2]], [p.padding[1], p.padding[3]]]);
  const hp = h + p.padding[0] + p.padding[2];
  const wp = wd + p.padding[1] + p.padding[3];
  const xT = reshape(transpose(reshape(xp, [n, g, cg, hp, wp]), [2, 1, 0, 3, 4]), [cg, g * n, hp, wp]);
  const ctT = reshape(transpose(reshape(ct, [n, g, og, ho, wo]), [1, 2, 0, 3, 4]), [g * og, n, ho, wo]);
  const r = bind1(conv2dP, [xT, ctT], { stride: p.dilation, dilation: p.stride, padding: [0, 0, 0, 0], groups: g });
  const rs = shapeOf(r);
  const cropped = slice(r, [0, 0, 0, 0], [rs[0]!, rs[1]!, kh, kw]);
  return transpose(cropped, [1, 0, 2, 3]);
}

/** Lower a conv as patches (Pad + strided Slices) times the reshaped kernel (MatMul). */
function lowerConvAsMatmul(ctx: LowerCtx, x: string, w: string, p: ConvParams, xs: readonly number[], ws: readonly number[]): string {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [o, cg, kh, kw] = ws as [number, number, number, number];
  const g = p.groups;
  const ho = outSize(h, kh, p.stride[0], p.dilation[0], p.padding[0], p.padding[2]);
  const wo = outSize(wd, kw, p.stride[1], p.dilation[1], p.padding[1], p.padding[3]);
  const xp = p.padding.some((v) => v !== 0) ? ctx.op('Pad', [x, ctx.ints([0, 0, p.padding[0], p.padding[1], 0, 0, p.padding[2], p.padding[3]])]) : x;
  const patches: string[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const y0 = i * p.dilation[0];
      const x0 = j * p.dilation[1];
      const s = ctx.op('Slice', [xp, ctx.ints([y0, x0]), ctx.ints([y0 + p.stride[0] * (ho - 1) + 1, x0 + p.stride[1] * (wo - 1) + 1]), ctx.ints([2, 3]), ctx.ints(p.stride)]);
      patches.push(ctx.op('Reshape', [s, ctx.ints([n, c, 1, ho * wo])]));
    }
  }
  const cols = patches.length === 1 ? patches[0]! : ctx.op('Concat', patches, { axis: 2 });
  const cols4 = ctx.op('Reshape', [cols, ctx.ints([n, g, cg * kh * kw, ho * wo])]);
  const w3 = ctx.op('Reshape', [w, ctx.ints([1, g, o / g, cg * kh * kw])]);
  const y = ctx.op('MatMul', [w3, cols4]);
  return ctx.op('Reshape', [y, ctx.ints([n, o, ho, wo])]);
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** a number, [h, w], [top, left, bottom, right], or 'same' (stride 1) */
  padding?: number | [number, number] | [number, number, number, number] | 'same';
  dilation?: number | [number, number];
  groups?: number;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

export function convParams(wShape: readonly number[], o: Conv2dOptions = {}): ConvParams {
  const dilation = pair(o.dilation, 1);
  let padding: [number, number, number, number];
  if (o.padding === 'same') {
    const ph = (dilation[0] * (wShape[2]! - 1)) / 2;
    const pw = (dilation[1] * (wShape[3]! - 1)) / 2;
    padding = [Math.floor(ph), Math.floor(pw), Math.ceil(ph), Math.ceil(pw)];
  } else if (Array.isArray(o.padding) && o.padding.length === 4) padding = o.padding;
  else {
    const [a, b] = pair(o.padding as number | [number, number] | undefined, 0);
    padding = [a, b, a, b];
  }
  return { stride: pair(o.stride, 1), padding, dilation, groups: o.groups ?? 1 };
}

/** 2-D convolution, NCHW input and OIHW weight. */
export function conv2d(x: Value, w: Value, opts: Conv2dOptions = {}): Value {
  return bind1(conv2dP, [x, w], convParams(shapeOf(w), opts));
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns at the bottom/right, to pick among the input sizes a strided conv maps to the same output size. */
  outputPadding?: number | [number, number];
}

/**
 * Transposed 2-D convolution (the adjoint of conv2d with the same weight and options): input
 * [N, O, Ho, Wo], weight [O, C/groups, kh, kw] (as for the conv it transposes), output [N, C, H, W].
 */
export function convTranspose2d(u: Value, w: Value, opts: ConvTranspose2dOptions = {}): Value {
  const us = shapeOf(u);
  const ws = shapeOf(w);
  if (us.length !== 4 || ws.length !== 4) {
    throw new ShapeError(`convTranspose2d: expects input NCHW and weight OIHW (rank 4), got ${fmtShape(us)} and ${fmtShape(ws)}`);
  }
  const p = convParams(ws, opts);
  const op = pair(opts.outputPadding, 0);
  for (let k = 0; k < 2; k++) {
    if (op[k]! < 0 || op[k]! >= Math.max(p.stride[k]!, p.dilation[k]!)) {
      throw new ShapeError(`convTranspose2d: outputPadding [${op}] must be non-negative and smaller than the stride [${p.stride}] or dilation`);
    }
  }
  const size = (n: number, k: number, i: 0 | 1) =>
    (n - 1) * p.stride[i] - p.padding[i] - p.padding[i + 2]! + p.dilation[i] * (k - 1) + 1 + op[i];
  return bind1(convTransposeP, [u, w], { ...p, outHW: [size(us[2]!, ws[2]!, 0), size(us[3]!, ws[3]!, 1)] });
}
