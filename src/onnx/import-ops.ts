/**
 * ONNX op → np ops, one entry per op. Shape arguments (Reshape's shape, reduction axes) must be
 * constants; small integer shape computations (Shape, Gather, Unsqueeze, Concat on constants) are
 * folded on the host so that exporters' `x.view(x.size(0), -1)` patterns import.
 */
import { dtypeFromOnnx, isFloat } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { Tensor, sizeOf } from '../core/tensor.js';
import { avalOf } from '../core/trace.js';
import * as np from '../np.js';
import { type AttributeProto, type NodeProto, tensorFromProto, toNumber } from './proto.js';

export interface OpContext {
  readonly node: NodeProto;
  /** Inputs in order; undefined where an optional input is left empty. */
  readonly inputs: readonly (Value | undefined)[];
  readonly opset: number;
  readonly what: string;
  /** "Conv (conv1)": names the node in errors. */
  readonly label: string;
}

type OpImpl = (c: OpContext) => Value[];

// ---- attribute and input helpers -------------------------------------------------------------
const attr = (c: OpContext, name: string): AttributeProto | undefined =>
  (c.node.attribute ?? []).find((a) => a.name === name) as AttributeProto | undefined;
const int = (c: OpContext, name: string, dflt: number): number => {
  const a = attr(c, name);
  return a ? toNumber(a.i) : dflt;
};
const ints = (c: OpContext, name: string): number[] | undefined => attr(c, name)?.ints?.map(toNumber);
const float = (c: OpContext, name: string, dflt: number): number => {
  const a = attr(c, name);
  return a ? (a.f ?? dflt) : dflt;
};
const str = (c: OpContext, name: string, dflt: string): string => {
  const a = attr(c, name);
  return a?.s ? new TextDecoder().decode(a.s) : dflt;
};

function input(c: OpContext, i: number): Value {
  const v = c.inputs[i];
  if (!v) throw new OnnxError(`${c.what}: ${c.label} needs input ${i}`);
  return v;
}

/** An input that must be known on the host (a shape, axes): an initializer, Constant or folded value. */
function constInts(c: OpContext, i: number, what: string): number[] {
  const v = c.inputs[i];
  if (!(v instanceof Tensor)) {
    throw new OnnxError(`${c.what}: ${c.label} takes its ${what} from a computed value; only constant ${what} can be imported (re-export with static shapes)`);
  }
  return v.toArray();
}

const rankOf = (v: Value) => avalOf(v).shape.length;
const shapeOf = (v: Value) => avalOf(v).shape;
const normAxis = (a: number, r: number) => (a < 0 ? a + r : a);

const unary = (f: (x: Value) => Value): OpImpl => (c) => [f(input(c, 0))];
const binary = (f: (x: Value, y: Value) => Value): OpImpl => (c) => [f(input(c, 0), input(c, 1))];

/** Integer tensors that are entirely on the host: shape arithmetic is folded, not traced. */
const hostInts = (vs: readonly (Value | undefined)[]): vs is Tensor[] =>
  vs.every((v) => v instanceof Tensor && !isFloat(v.dtype));

function hostTensor(values: number[], shape: number[], like: Tensor): Tensor {
  const t = new Tensor(like.dtype, shape);
  values.forEach((v, i) => {
    if (t.dtype === 'int64') (t.data as BigInt64Array)[i] = BigInt(v);
    else (t.data as Int32Array)[i] = v;
  });
  return t;
}

// ---- ops -----------------------------------------------------------------------------------------
function gemm(c: OpContext): Value[] {
  const a = int(c, 'transA', 0) ? np.transpose(input(c, 0)) : input(c, 0);
  const b = int(c, 'transB', 0) ? np.transpose(input(c, 1)) : input(c, 1);
  const alpha = float(c, 'alpha', 1);
  const beta = float(c, 'beta', 1);
  let y = np.matmul(a, b);
  if (alpha !== 1) y = np.mul(y, alpha);
  const bias = c.inputs[2];
  if (bias && beta !== 0) y = np.add(y, beta === 1 ? bias : np.mul(bias, beta));
  return [y];
}

function conv(c: OpContext): Value[] {
  const x = input(c, 0);
  const w = input(c, 1);
  if (rankOf(x) !== 4) throw new OnnxError(`${c.what}: ${c.label} is a ${rankOf(x) - 2}-D convolution; only 2-D (NCHW) Conv is supported`);
  const [, , h, wd] = shapeOf(x) as [number, number, number, number];
  const [, , kh, kw] = shapeOf(w) as [number, number, number, number];
  const stride = (ints(c, 'strides') ?? [1, 1]) as [number, number];
  const dilation = (ints(c, 'dilations') ?? [1, 1]) as [number, number];
  const autoPad = str(c, 'auto_pad', 'NOTSET');
  let padding = (ints(c, 'pads') ?? [0, 0, 0, 0]) as [number, number, number, number];
  if (autoPad === 'VALID') padding = [0, 0, 0, 0];
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = (n: number, k: number, s: number, d: number) => Math.max((Math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0);
    const th = total(h, kh, stride[0], dilation[0]);
    const tw = total(wd, kw, stride[1], dilation[1]);
    const lo = (t: number) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2));
    padding = [lo(th), lo(tw), th - lo(th), tw - lo(tw)];
  } else if (autoPad !== 'NOTSET') throw new OnnxError(`${c.what}: ${c.label} has auto_pad=${autoPad}, which is not an ONNX value`);
  let y = np.conv2d(x, w, { stride, dilation, padding, groups: int(c, 'group', 1) });
  const bias = c.inputs[2];
  if (bias) y = np.add(y, np.reshape(bias, [1, shapeOf(bias)[0]!, 1, 1]));
  return [y];
}

function reshape(c: OpContext): Value[] {
  const x = input(c, 0);
  const from = shapeOf(x);
  const allowZero = int(c, 'allowzero', 0) === 1;
  const shape = constInts(c, 1, 'shape').map((d, i) => (d === 0 && !allowZero ? from[i]! : d));
  if (x instanceof Tensor && !isFloat(x.dtype)) {
    const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    return [x.reshape(shape.map((d) => (d === -1 ? x.size / known : d)))];
  }
  return [np.reshape(x, shape)];
}

function reduce(kind: 'sum' | 'mean' | 'max'): OpImpl {
  return (c) => {
    const x = input(c, 0);
    // ReduceSum takes axes as an input from opset 13, ReduceMean/ReduceMax from opset 18; before, an attribute
    const axes = c.inputs[1] ? constInts(c, 1, 'axes') : (ints(c, 'axes') ?? []);
    const keep = int(c, 'keepdims', 1) === 1;
    if (axes.length === 0 && int(c, 'noop_with_empty_axes', 0) === 1) return [x];
    const ax = axes.length ? axes : undefined;
    return [(kind === 'sum' ? np.sum : kind === 'mean' ? np.mean : np.max)(x, ax, keep)];
  };
}

function constant(c: OpContext): Value[] {
  const a = (c.node.attribute ?? [])[0] as AttributeProto | undefined;
  if (!a) throw new OnnxError(`${c.what}: ${c.label} has no value`);
  switch (a.name) {
    case 'value': {
      if (!a.t) throw new OnnxError(`${c.what}: ${c.label} has an empty value`);
      return [tensorFromProto(a.t, c.what)];
    }
    case 'value_float': return [hostConst([a.f ?? 0], [], 'float32')];
    case 'value_floats': return [hostConst(a.floats ?? [], [a.floats?.length ?? 0], 'float32')];
    case 'value_int': return [hostConst([toNumber(a.i)], [], 'int64')];
    case 'value_ints': return [hostConst((a.ints ?? []).map(toNumber), [a.ints?.length ?? 0], 'int64')];
    default: throw new OnnxError(`${c.what}: ${c.label} uses ${a.name}, which is not supported (value, value_float(s), value_int(s))`);
  }
}
function hostConst(values: number[], shape: number[], dtype: 'float32' | 'int64'): Tensor {
  const t = new Tensor(dtype, shape);
  values.forEach((v, i) => {
    if (dtype === 'int64') (t.data as BigInt64Array)[i] = BigInt(v);
    else (t.data as Float32Array)[i] = v;
  });
  return t;
}

/** Softmax-like ops: from opset 13 one axis (default -1); before, over the flattened axes from `axis` (default 1). */
function softmaxLike(f: (x: Value, axis: number) => Value): OpImpl {
  return (c) => {
    const x = input(c, 0);
    const r = rankOf(x);
    if (c.opset >= 13) return [f(x, int(c, 'axis', -1))];
    const axis = normAxis(int(c, 'axis', 1), r);
    const s = shapeOf(x);
    const flat = np.reshape(x, [sizeOf(s.slice(0, axis)), sizeOf(s.slice(axis))]);
    return [np.reshape(f(flat, -1), s)];
  };
}

function groupNormalization(c: OpContext): Value[] {
  const x = input(c, 0);
  const s = shapeOf(x);
  const groups = int(c, 'num_groups', 0);
  if (groups < 1) throw new OnnxError(`${c.what}: ${c.label} needs a positive num_groups`);
  const scale = input(c, 1);
  const bias = input(c, 2);
  const n = np.groupNorm(x, groups, float(c, 'epsilon', 1e-5));
  const len = shapeOf(scale)[0]!;
  if (len === s[1]) {
    // opset 21: one scale per channel
    const bshape = [1, s[1]!, ...s.slice(2).map(() => 1)];
    return [np.add(np.mul(n, np.reshape(scale, bshape)), np.reshape(bias, bshape))];
  }
  if (len !== groups) throw new OnnxError(`${c.what}: ${c.label} has ${len} scales for ${groups} groups and ${s[1]} channels`);
  // opset 18: one scale per group
  const g = np.reshape(n, [s[0]!, groups, -1]);
  return [np.reshape(np.add(np.mul(g, np.reshape(scale, [1, groups, 1])), np.reshape(bias, [1, groups, 1])), s)];
}

function cast(c: OpContext): Value[] {
  const to = dtypeFromOnnx(int(c, 'to', 0));
  if (!to) throw new OnnxError(`${c.what}: ${c.label} casts to ONNX type ${int(c, 'to', 0)}, which is not supported`);
  const x = input(c, 0);
  if (x instanceof Tensor && !isFloat(x.dtype) && !isFloat(to)) return [x.astype(to)];
  return [np.astype(x, to)];
}

function shape(c: OpContext): Value[] {
  const s = shapeOf(input(c, 0));
  const r = s.length;
  const start = normAxis(int(c, 'start', 0), r);
  const endAttr = attr(c, 'end');
  const end = endAttr ? normAxis(toNumber(endAttr.i), r) : r;
  const dims = s.slice(Math.max(0, start), Math.min(r, end));
  return [hostConst([...dims], [dims.length], 'int64')];
}

function gather(c: OpContext): Value[] {
  const [data, idx] = c.inputs;
  if (!hostInts([data, idx])) throw new OnnxError(`${c.what}: ${c.label}: Gather is only supported on constant integer data (shape arithmetic)`);
  const d = data as Tensor;
  const i = idx as Tensor;
  if (int(c, 'axis', 0) !== 0 || d.rank !== 1) throw new OnnxError(`${c.what}: ${c.label}: only 1-D Gather on axis 0 is supported`);
  const vals = d.toArray();
  return [hostTensor(i.toArray().map((k) => vals[normAxis(k, vals.length)]!), [...i.shape], d)];
}

function unsqueezeLike(squeeze: boolean): OpImpl {
  return (c) => {
    const x = input(c, 0);
    const given = c.inputs[1] ? constInts(c, 1, 'axes') : ints(c, 'axes');
    const s = [...shapeOf(x)];
    let out: number[];
    if (squeeze) {
      const ax = (given ?? s.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, s.length));
      out = s.filter((_, i) => !ax.includes(i));
    } else {
      const r = s.length + (given?.length ?? 0);
      const ax = (given ?? []).map((a) => normAxis(a, r)).sort((a, b) => a - b);
      out = s;
      for (const a of ax) out.splice(a, 0, 1);
    }
    return [x instanceof Tensor && !isFloat(x.dtype) ? x.reshape(out) : np.reshape(x, out)];
  };
}

function concat(c: OpContext): Value[] {
  const xs = c.inputs.filter((v): v is Value => v !== undefined);
  const axis = int(c, 'axis', 0);
  if (hostInts(xs) && xs.every((t) => t.rank === 1)) {
    const vals = xs.flatMap((t) => t.toArray());
    return [hostTensor(vals, [vals.length], xs[0]!)];
  }
  return [np.concat(xs, axis)];
}

function flatten(c: OpContext): Value[] {
  const x = input(c, 0);
  const s = shapeOf(x);
  const axis = normAxis(int(c, 'axis', 1), s.length);
  return [np.reshape(x, [sizeOf(s.slice(0, axis)), sizeOf(s.slice(axis))])];
}

function pow(c: OpContext): Value[] {
  const x = input(c, 0);
  let y = input(c, 1);
  // ONNX lets the exponent have its own type; np.pow wants one dtype
  const dt = avalOf(x).dtype;
  if (avalOf(y).dtype !== dt) y = y instanceof Tensor ? y.astype(dt) : np.astype(y, dt);
  return [np.pow(x, y)];
}

/** Expand broadcasts both ways: the result has the broadcast of the input's shape and the given one. */
function expand(c: OpContext): Value[] {
  const x = input(c, 0);
  const target = constInts(c, 1, 'shape');
  const s = shapeOf(x);
  const n = Math.max(s.length, target.length);
  const out = Array.from({ length: n }, (_, i) => {
    const a = s[s.length - n + i] ?? 1;
    const b = target[target.length - n + i] ?? 1;
    return a === 1 ? b : a;
  });
  return [np.broadcastTo(x, out)];
}

function transpose(c: OpContext): Value[] {
  const x = input(c, 0);
  return [np.transpose(x, ints(c, 'perm'))];
}

/** The ONNX ops that import, by op type. */
export const importedOps: Record<string, OpImpl> = {
  Abs: unary(np.abs),
  Add: binary(np.add),
  Cast: cast,
  Concat: concat,
  Constant: constant,
  Conv: conv,
  Div: binary(np.div),
  Exp: unary(np.exp),
  Expand: expand,
  Flatten: flatten,
  Gather: gather,
  Gemm: gemm,
  GroupNormalization: groupNormalization,
  Identity: (c) => [input(c, 0)],
  Log: unary(np.log),
  LogSoftmax: softmaxLike(np.logSoftmax),
  MatMul: binary(np.matmul),
  Max: binary(np.maximum),
  Min: binary(np.minimum),
  Mul: binary(np.mul),
  Neg: unary(np.neg),
  Pow: pow,
  ReduceMax: reduce('max'),
  ReduceMean: reduce('mean'),
  ReduceSum: reduce('sum'),
  Relu: unary(np.relu),
  Reshape: reshape,
  Shape: shape,
  Sigmoid: unary(np.sigmoid),
  Softmax: softmaxLike(np.softmax),
  Sqrt: unary(np.sqrt),
  Squeeze: unsqueezeLike(true),
  Sub: binary(np.sub),
  Tanh: unary(np.tanh),
  Transpose: transpose,
  Unsqueeze: unsqueezeLike(false),
};
