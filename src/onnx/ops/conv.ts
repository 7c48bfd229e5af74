/**
 * Linear maps and convolutions: Gemm, MatMul, Einsum, Conv and ConvTranspose (1-, 2-, 3-, …-D,
 * groups, dilations, pads, auto_pad), MaxPool (with its Indices output), AveragePool and the
 * global pools.
 */
import type { Value } from '../../core/primitive.js';
import * as np from '../../np.js';
import { convNd, convTransposeNd } from '../../ops/convnd.js';
import { averagePool, maxPoolIndicesP, maxPoolP, type PoolParams } from '../../ops/pool.js';
import { bind1 } from '../../core/trace.js';
import { type AttrDecl, type OpContext, type OpSpec, declare, rankOf, shapeOf } from './declare.js';

const AUTO_PAD: AttrDecl = { kind: 'string', default: 'NOTSET', oneOf: ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] };
const perAxis = (doc: string, min = 1): AttrDecl => ({ kind: 'ints', min, doc });

/** One value per spatial axis from an attribute (default `dflt`), checked. */
function spatialInts(c: OpContext, name: string, d: number, dflt: number): number[] {
  const v = c.ints(name) ?? new Array<number>(d).fill(dflt);
  if (v.length !== d) c.fail(`${name} [${v}] needs one value per spatial axis (${d})`);
  return v;
}

/**
 * Pads (begins, then ends) from `pads` or `auto_pad`: SAME_* make the output ⌈n / stride⌉ long,
 * with the odd cell at the end (SAME_UPPER) or the beginning (SAME_LOWER).
 */
function resolvePads(c: OpContext, sizes: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): number[] {
  const d = sizes.length;
  const mode = c.string('auto_pad');
  const given = c.ints('pads');
  if (given && (given.length !== 2 * d || given.some((v) => v < 0))) c.fail(`pads [${given}] need ${2 * d} non-negative values (begins, then ends)`);
  if (mode === 'NOTSET') return given ?? new Array<number>(2 * d).fill(0);
  if (given?.some((v) => v !== 0)) c.fail(`gives both pads [${given}] and auto_pad = ${mode}; give one`);
  if (mode === 'VALID') return new Array<number>(2 * d).fill(0);
  const totals = sizes.map((n, i) => Math.max((Math.ceil(n / strides[i]!) - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - n, 0));
  const begins = totals.map((t) => (mode === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
  return [...begins, ...totals.map((t, i) => t - begins[i]!)];
}

function kernelOf(c: OpContext, w: Value): number[] {
  const k = shapeOf(w).slice(2);
  const given = c.ints('kernel_shape');
  if (given && given.join() !== k.join()) c.fail(`kernel_shape [${given}] differs from the weight's spatial shape [${k}]`);
  return k;
}

function checkRanks(c: OpContext, x: Value, w: Value): number {
  const d = rankOf(x) - 2;
  if (d < 1) c.fail(`input must be N×C×spatial (rank 3 or more), got [${shapeOf(x)}]`);
  if (rankOf(w) !== d + 2) c.fail(`weight [${shapeOf(w)}] must have rank ${d + 2}, as the input [${shapeOf(x)}]`);
  return d;
}

function addBias(c: OpContext, y: Value, d: number): Value {
  const b = c.optionalInput(2);
  if (!b) return y;
  const ch = shapeOf(y)[1]!;
  if (shapeOf(b).length !== 1 || shapeOf(b)[0] !== ch) c.fail(`bias B must have shape [${ch}], got [${shapeOf(b)}]`);
  return np.add(y, np.reshape(b, [ch, ...new Array<number>(d).fill(1)]));
}

function conv(c: OpContext): Value[] {
  const [x, w] = [c.input(0), c.input(1)];
  const d = checkRanks(c, x, w);
  const kernel = kernelOf(c, w);
  const strides = spatialInts(c, 'strides', d, 1);
  const dilations = spatialInts(c, 'dilations', d, 1);
  const pads = resolvePads(c, shapeOf(x).slice(2), kernel, strides, dilations);
  const groups = c.int('group');
  const cin = shapeOf(x)[1]!;
  if (cin !== shapeOf(w)[1]! * groups || shapeOf(w)[0]! % groups !== 0) {
    c.fail(`input [${shapeOf(x)}] and weight [${shapeOf(w)}] do not fit group = ${groups} (C = group · W's dimension 1, and group divides M)`);
  }
  return [addBias(c, convNd(x, w, { strides, dilations, pads, groups }), d)];
}

function convTranspose(c: OpContext): Value[] {
  const [u, w] = [c.input(0), c.input(1)];
  const d = checkRanks(c, u, w);
  const kernel = kernelOf(c, w);
  const strides = spatialInts(c, 'strides', d, 1);
  const dilations = spatialInts(c, 'dilations', d, 1);
  const outPad = spatialInts(c, 'output_padding', d, 0);
  const groups = c.int('group');
  if (shapeOf(u)[1] !== shapeOf(w)[0] || shapeOf(w)[0]! % groups !== 0) {
    c.fail(`input [${shapeOf(u)}] and weight [${shapeOf(w)}] do not fit group = ${groups} (C = W's dimension 0, divisible by group)`);
  }
  const sizes = shapeOf(u).slice(2);
  // each output axis: (in − 1)·stride + output_padding + (k − 1)·dilation + 1 − begin − end
  const natural = sizes.map((n, i) => (n - 1) * strides[i]! + outPad[i]! + (kernel[i]! - 1) * dilations[i]! + 1);
  const mode = c.string('auto_pad');
  let begins: number[];
  let ends: number[];
  const shape = c.ints('output_shape');
  if (shape || mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
    if (c.ints('pads')?.some((v) => v !== 0)) c.fail('gives pads together with output_shape or auto_pad SAME_*; give one');
    const out = shape ? shape.slice(-d) : sizes.map((n, i) => n * strides[i]!);
    if (out.length !== d) c.fail(`output_shape [${shape}] needs ${d} spatial sizes`);
    const totals = natural.map((n, i) => n - out[i]!);
    // a negative total leaves zeros at the end (the ONNX reference); SAME_UPPER puts the odd cell at the end
    begins = totals.map((t) => (t <= 0 ? 0 : mode === 'SAME_UPPER' ? Math.floor(t / 2) : t - Math.floor(t / 2)));
    ends = totals.map((t, i) => t - begins[i]!);
  } else {
    const pads = resolvePads(c, sizes, kernel, strides, dilations);
    begins = pads.slice(0, d);
    ends = pads.slice(d);
  }
  // output_padding un-crops the end: crop end − output_padding, or pad with zeros where that is negative
  const crop = ends.map((e, i) => e - outPad[i]!);
  let y = convTransposeNd(u, w, { strides, dilations, pads: [...begins, ...crop.map((e) => Math.max(e, 0))], groups });
  if (crop.some((e) => e < 0)) y = np.pad(y, [[0, 0], [0, 0], ...crop.map((e) => [0, Math.max(-e, 0)] as [number, number])]);
  return [addBias(c, y, d)];
}

/**
 * A pool's parameters with ONNX's defaults, every one given: stride 1 on every axis (np.maxPool and
 * np.avgPool default to PyTorch's stride, the kernel size), dilation 1, pads 0.
 */
function poolParams(c: OpContext, x: Value, dilated: boolean): PoolParams {
  const d = rankOf(x) - 2;
  if (d < 1) c.fail(`input must be N×C×spatial (rank 3 or more), got [${shapeOf(x)}]`);
  const kernel = c.ints('kernel_shape')!;
  if (kernel.length !== d) c.fail(`kernel_shape [${kernel}] needs one size per spatial axis (${d})`);
  // ONNX's default stride is 1
  const strides = spatialInts(c, 'strides', d, 1);
  const dilations = dilated ? spatialInts(c, 'dilations', d, 1) : new Array<number>(d).fill(1);
  const pads = resolvePads(c, shapeOf(x).slice(2), kernel, strides, dilations);
  // onnxruntime's rule: a window never lies wholly in the padding
  for (let i = 0; i < d; i++) {
    if (pads[i]! >= kernel[i]! || pads[i + d]! >= kernel[i]!) c.fail(`pads [${pads}] must be smaller than the kernel [${kernel}]`);
  }
  return { kernel, strides, dilations, pads, ceilMode: c.int('ceil_mode') === 1 };
}

const X = { name: 'X', type: 'float' as const };
const convAttrs: Record<string, AttrDecl> = {
  auto_pad: AUTO_PAD,
  dilations: perAxis('default 1 per axis'),
  group: { kind: 'int', default: 1, min: 1 },
  kernel_shape: perAxis('must match the weight'),
  pads: perAxis('begins, then ends; default 0', 0),
  strides: perAxis('default 1 per axis'),
};
const poolAttrs: Record<string, AttrDecl> = {
  auto_pad: AUTO_PAD,
  ceil_mode: { kind: 'int', default: 0, oneOf: [0, 1], opsets: [10] },
  kernel_shape: { kind: 'ints', required: true, min: 1 },
  pads: perAxis('begins, then ends; default 0; each below the kernel size', 0),
  strides: perAxis('default 1 per axis'),
};

export const convOps: readonly OpSpec[] = [
  declare({
    op: 'Gemm', family: 'linear and conv', since: 7,
    inputs: [{ name: 'A', type: 'float' }, { name: 'B', type: 'float' }, { name: 'C', type: 'float', optional: true }], outputs: ['Y'], differentiable: true,
    attrs: {
      alpha: { kind: 'float', default: 1 },
      beta: { kind: 'float', default: 1 },
      transA: { kind: 'int', default: 0, oneOf: [0, 1] },
      transB: { kind: 'int', default: 0, oneOf: [0, 1] },
    },
    notes: 'C broadcasts to [M, N]',
    map: (c) => {
      const [a, b] = [c.input(0), c.input(1)];
      if (rankOf(a) !== 2 || rankOf(b) !== 2) c.fail(`A [${shapeOf(a)}] and B [${shapeOf(b)}] must be matrices`);
      let y = np.matmul(c.int('transA') ? np.transpose(a) : a, c.int('transB') ? np.transpose(b) : b);
      const [alpha, beta] = [c.float('alpha'), c.float('beta')];
      if (alpha !== 1) y = np.mul(y, alpha);
      const bias = c.optionalInput(2);
      if (bias && beta !== 0) {
        const t = np.add(y, beta === 1 ? bias : np.mul(bias, beta));
        if (shapeOf(t).join() !== shapeOf(y).join()) c.fail(`C [${shapeOf(bias)}] must broadcast to the product's shape [${shapeOf(y)}]`);
        y = t;
      }
      return [y];
    },
  }),
  declare({
    op: 'MatMul', family: 'linear and conv', since: 9, inputs: [{ name: 'A', type: 'float' }, { name: 'B', type: 'float' }], outputs: ['Y'], differentiable: true,
    attrs: {}, notes: 'numpy semantics (1-D operands, broadcast batch axes)',
    map: (c) => [np.matmul(c.input(0), c.input(1))],
  }),
  declare({
    op: 'Einsum', family: 'linear and conv', since: 12, inputs: [{ name: 'Inputs', type: 'float', variadic: true }], outputs: ['Output'], differentiable: true,
    attrs: { equation: { kind: 'string', required: true } },
    notes: 'one or two operands, no repeated label within an operand (diagonals)',
    map: (c) => {
      const xs = c.rest();
      if (xs.length > 2) c.fail(`has ${xs.length} operands; one or two are supported`);
      return [np.einsum(c.string('equation'), ...xs)];
    },
  }),
  declare({
    op: 'Conv', family: 'linear and conv', since: 1, inputs: [X, { name: 'W', type: 'float' }, { name: 'B', type: 'float', optional: true }], outputs: ['Y'],
    differentiable: true, attrs: convAttrs,
    notes: '1-D and 3-D and up are written with 2-D convolutions',
    float64: 'Pad/Slice/MatMul (onnxruntime has no float64 Conv)',
    map: conv,
  }),
  declare({
    op: 'ConvTranspose', family: 'linear and conv', since: 1, inputs: [X, { name: 'W', type: 'float' }, { name: 'B', type: 'float', optional: true }], outputs: ['Y'],
    differentiable: true,
    attrs: {
      ...convAttrs,
      output_padding: perAxis('extra cells at the end of each axis; default 0', 0),
      output_shape: perAxis('spatial output sizes; pads follow (SAME_UPPER: odd cell at the end)', 0),
    },
    float64: 'a stride-1 Conv of the zero-interleaved input, as Pad/Slice/MatMul (onnxruntime has no float64 ConvTranspose)',
    map: convTranspose,
  }),
  declare({
    op: 'MaxPool', family: 'linear and conv', since: 8, inputs: [X], outputs: ['Y', 'Indices'], differentiable: true,
    attrs: {
      ...poolAttrs,
      dilations: { ...perAxis('default 1 per axis'), opsets: [10] },
      storage_order: { kind: 'int', default: 0, oneOf: [0, 1], doc: 'of Indices: 0 row-major, 1 column-major' },
    },
    notes: 'the derivative goes to the first maximum of each window (the element Indices names)',
    map: (c) => {
      const x = c.input(0);
      const p = poolParams(c, x, true);
      const y = bind1(maxPoolP, [x], p);
      if (!c.wants(1)) return [y];
      return [y, bind1(maxPoolIndicesP, [x], { ...p, storageOrder: c.int('storage_order') })];
    },
  }),
  declare({
    op: 'AveragePool', family: 'linear and conv', since: 7, inputs: [X], outputs: ['Y'], differentiable: true,
    attrs: {
      ...poolAttrs,
      count_include_pad: { kind: 'int', default: 0, oneOf: [0, 1] },
      dilations: { ...perAxis('default 1 per axis'), opsets: [19] },
    },
    float64: 'a composite (onnxruntime has no float64 AveragePool)',
    notes: 'a depthwise Conv where every window counts all its cells, else a sum of strided slices over the counts; in both dtypes',
    map: (c) => {
      const x = c.input(0);
      // ONNX counts only the input cells unless count_include_pad = 1 (np.avgPool counts padding, as PyTorch)
      return [averagePool(x, poolParams(c, x, c.opset >= 19), c.int('count_include_pad') === 1)];
    },
  }),
  declare({
    op: 'GlobalAveragePool', family: 'linear and conv', since: 1, inputs: [X], outputs: ['Y'], differentiable: true, attrs: {},
    map: (c) => {
      const x = c.input(0);
      if (rankOf(x) < 3) c.fail(`input must be N×C×spatial, got [${shapeOf(x)}]`);
      return [np.mean(x, [...Array(rankOf(x) - 2).keys()].map((i) => i + 2), true)];
    },
  }),
  declare({
    op: 'GlobalMaxPool', family: 'linear and conv', since: 1, inputs: [X], outputs: ['Y'], differentiable: true, attrs: {},
    notes: 'tied maxima share the derivative equally',
    map: (c) => {
      const x = c.input(0);
      if (rankOf(x) < 3) c.fail(`input must be N×C×spatial, got [${shapeOf(x)}]`);
      return [np.max(x, [...Array(rankOf(x) - 2).keys()].map((i) => i + 2), true)];
    },
  }),
];
