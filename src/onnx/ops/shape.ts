/**
 * Shapes: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Expand, Tile, and the
 * ops that make shapes and constants (Shape, Size, Constant, ConstantOfShape, Range), plus
 * Identity and Dropout (inference). On host values each folds at import, so that a model's shape
 * computations (Shape → Gather → Concat → Reshape) become constants; on traced values each is an
 * np op.
 */
import type { DType } from '../../core/dtype.js';
import type { Value } from '../../core/primitive.js';
import { sizeOf, type Tensor } from '../../core/tensor.js';
import * as np from '../../np.js';
import { broadcastShapes } from '../../ops/util.js';
import { type OpContext, type OpSpec, declare, dtypeOf, rankOf, shapeOf } from './declare.js';
import { checkFoldedSize, hostBroadcast, hostConcat, hostSlice, hostTensor, hostTranspose } from './host.js';

/** Reshape that stays on the host for host values. */
function reshapeAny(c: OpContext, x: Value, shape: readonly number[]): Value {
  return c.isHost(x) ? x.reshape(shape) : np.reshape(x, shape);
}

/** ONNX's target shape: 0 copies the input's dimension (unless allowzero), one −1 is inferred. */
function targetShape(c: OpContext, from: readonly number[], given: readonly number[], allowZero: boolean): number[] {
  if (given.filter((d) => d === -1).length > 1) c.fail(`shape [${given}] has more than one -1`);
  if (given.some((d) => d < -1)) c.fail(`shape [${given}] has a dimension below -1`);
  if (allowZero && given.includes(0) && given.includes(-1)) c.fail(`shape [${given}] has both 0 and -1, which allowzero = 1 forbids`);
  const dims = given.map((d, i) => {
    if (d !== 0 || allowZero) return d;
    if (i >= from.length) c.fail(`shape [${given}] copies dimension ${i} (a 0), which the rank-${from.length} input lacks`);
    return from[i]!;
  });
  const known = sizeOf(dims.filter((d) => d !== -1));
  const total = sizeOf(from);
  if (dims.includes(-1)) {
    if (known === 0 || total % known !== 0) c.fail(`cannot reshape [${from}] (${total} elements) to [${given}]`);
    return dims.map((d) => (d === -1 ? total / known : d));
  }
  if (known !== total) c.fail(`cannot reshape [${from}] (${total} elements) to [${given}] (${known} elements)`);
  return dims;
}

function squeeze(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const given = c.opset >= 13 ? (c.optionalInput(1) ? c.hostInts(1) : undefined) : c.ints('axes');
  // no axes (or an empty list): every axis of size 1
  const axes = given?.length ? c.axesOf(given, s.length, 'axes') : s.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of axes) if (s[a] !== 1) c.fail(`axis ${a} has size ${s[a]}, not 1: it cannot be squeezed (input shape [${s}])`);
  return [reshapeAny(c, x, s.filter((_, i) => !axes.includes(i)))];
}

function unsqueeze(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const given = c.opset >= 13 ? c.hostInts(1) : c.ints('axes');
  if (!given) c.fail('needs axes');
  const r = s.length + given.length;
  const axes = c.axesOf(given, r, 'axes').sort((a, b) => a - b);
  const out = [...s];
  for (const a of axes) out.splice(a, 0, 1);
  return [reshapeAny(c, x, out)];
}

function transpose(c: OpContext): Value[] {
  const x = c.input(0);
  const r = rankOf(x);
  const perm = c.ints('perm') ?? [...Array(r).keys()].reverse();
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((v, i) => v !== i)) c.fail(`perm [${perm}] is not a permutation of the ${r} axes`);
  return [c.isHost(x) ? hostTranspose(x, perm) : np.transpose(x, perm)];
}

function concat(c: OpContext): Value[] {
  const xs = c.rest();
  if (xs.length === 0) c.fail('needs at least one input');
  const r = rankOf(xs[0]!);
  const axis = c.axis('axis', r);
  for (const x of xs) {
    const s = shapeOf(x);
    if (s.length !== r || s.some((d, i) => i !== axis && d !== shapeOf(xs[0]!)[i])) {
      c.fail(`inputs [${xs.map((v) => `[${shapeOf(v)}]`).join(', ')}] must agree on every axis but ${axis}`);
    }
    if (dtypeOf(x) !== dtypeOf(xs[0]!)) c.fail(`inputs have different types (${xs.map(dtypeOf).join(', ')})`);
  }
  const h = c.foldedRest();
  if (h) return [hostConcat(h, axis)];
  return [np.concat(xs, axis)];
}

function split(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const axis = c.axis('axis');
  const n = s[axis]!;
  const outputs = c.outputCount;
  let sizes: number[];
  const given = c.opset >= 13 ? (c.optionalInput(1) ? c.hostInts(1) : undefined) : c.ints('split');
  if (given) {
    if (c.has('num_outputs')) c.fail('gives both split sizes and num_outputs');
    if (given.length !== outputs) c.fail(`split [${given}] has ${given.length} sizes for ${outputs} outputs`);
    if (given.some((v) => v < 0) || given.reduce((a, b) => a + b, 0) !== n) c.fail(`split [${given}] must be non-negative and add up to ${n}, the length of axis ${axis}`);
    sizes = given;
  } else if (c.has('num_outputs')) {
    const k = c.int('num_outputs');
    if (k !== outputs) c.fail(`num_outputs = ${k} but the node has ${outputs} outputs`);
    const chunk = Math.ceil(n / k);
    sizes = Array.from({ length: k }, (_, i) => Math.max(0, Math.min(chunk, n - i * chunk)));
  } else {
    if (c.opset >= 18) c.fail('needs split sizes or num_outputs (opset 18)');
    if (n % outputs !== 0) c.fail(`axis ${axis} of length ${n} does not split into ${outputs} equal parts`);
    sizes = new Array<number>(outputs).fill(n / outputs);
  }
  let start = 0;
  return sizes.map((len) => {
    const starts = s.map((_, i) => (i === axis ? start : 0));
    const ends = s.map((d, i) => (i === axis ? start + len : d));
    start += len;
    return c.isHost(x) ? hostSlice(x, starts, ends, s.map(() => 1)) : np.slice(x, starts, ends);
  });
}

/** Expand broadcasts both ways: the result has the broadcast of the input's shape and the given one. */
function expand(c: OpContext): Value[] {
  const x = c.input(0);
  const target = c.hostInts(1);
  const out = broadcastShapes('Expand', shapeOf(x), target);
  return [c.isHost(x) ? hostBroadcast(x, out) : np.broadcastTo(x, out)];
}

/** Tile as a broadcast: [a, b] repeated [r, q] is [1, a, 1, b] broadcast to [r, a, q, b], reshaped. */
function tile(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const repeats = c.hostInts(1);
  if (repeats.length !== s.length || repeats.some((r) => r < 0)) c.fail(`repeats [${repeats}] must give one non-negative count per axis of [${s}]`);
  const split = s.flatMap((d) => [1, d]);
  const wide = s.flatMap((d, i) => [repeats[i]!, d]);
  const out = s.map((d, i) => d * repeats[i]!);
  if (c.isHost(x)) return [hostBroadcast(x.reshape(split), wide).reshape(out)];
  return [np.reshape(np.broadcastTo(np.reshape(x, split), wide), out)];
}

function constantValue(c: OpContext): Value[] {
  const given = (c.node.attribute ?? []).map((a) => a.name ?? '');
  if (given.length !== 1) c.fail(`needs exactly one value attribute, got ${given.length ? given.join(', ') : 'none'}`);
  const name = given[0]!;
  const f32 = (v: number[], shape: number[]) => hostTensor('float32', shape, v);
  const i64 = (v: number[], shape: number[]) => hostTensor('int64', shape, v);
  switch (name) {
    case 'value': return [c.tensor('value')!];
    case 'value_float': return [f32([c.float('value_float')], [])];
    case 'value_floats': { const v = c.floats('value_floats')!; return [f32(v, [v.length])]; }
    case 'value_int': return [i64([c.int('value_int')], [])];
    case 'value_ints': { const v = c.ints('value_ints')!; return [i64(v, [v.length])]; }
    default: return c.fail(`${name} (strings and sparse tensors have no tensor here)`);
  }
}

/** Large constants stay traced fills (an Expand), small ones fold on the host. */
const HOST_FILL_LIMIT = 1 << 16;

function constantOfShape(c: OpContext): Value[] {
  const shape = c.hostInts(0);
  if (shape.some((d) => d < 0)) c.fail(`shape [${shape}] has a negative dimension`);
  const v = c.tensor('value');
  if (v && v.size !== 1) c.fail(`value must hold one element, got shape [${v.shape}]`);
  const dtype: DType = v?.dtype ?? 'float32';
  const value = v ? v.toArray()[0]! : 0;
  if (sizeOf(shape) > HOST_FILL_LIMIT) return [np.fill(shape, value, dtype)];
  return [hostTensor(dtype, shape, new Array<number>(sizeOf(shape)).fill(value))];
}

function range(c: OpContext): Value[] {
  const [start, limit, delta] = [0, 1, 2].map((i) => {
    const t = c.hostInput(i);
    if (t.size !== 1 || t.rank !== 0) c.fail(`input ${i} must be a scalar, got shape [${t.shape}]`);
    return t;
  }) as [Tensor, Tensor, Tensor];
  if (dtypeOf(limit) !== dtypeOf(start) || dtypeOf(delta) !== dtypeOf(start)) c.fail('start, limit and delta must have one type');
  const [a, b, d] = [start.item(), limit.item(), delta.item()];
  if (d === 0) c.fail('delta is 0');
  const n = Math.max(Math.ceil((b - a) / d), 0);
  checkFoldedSize('Range', [n]);
  return [hostTensor(start.dtype, [n], Array.from({ length: n }, (_, i) => a + i * d))];
}

function dropout(c: OpContext): Value[] {
  const x = c.input(0);
  if (c.opset >= 12) {
    c.has('seed'); // read, and unused: inference draws nothing
    // the ratio matters in training mode only (inference passes the input through)
    const training = c.optionalInput(2) ? c.hostInput(2).item() !== 0 : false;
    if (training) {
      const ratio = c.optionalInput(1) ? c.hostInput(1).item() : 0.5;
      if (ratio < 0 || ratio >= 1) c.fail(`ratio ${ratio} must be in [0, 1)`);
      if (ratio > 0) {
        c.fail(`training_mode with ratio ${ratio} drops random elements; import a model exported for inference (model.eval()), where Dropout passes its input through`);
      }
    }
  } else {
    const ratio = c.float('ratio');
    if (ratio < 0 || ratio > 1) c.fail(`ratio ${ratio} must be in [0, 1]`);
  }
  if (!c.wants(1)) return [x];
  // the mask keeps every element (bool from opset 10, the input's type before)
  const ms = shapeOf(x);
  const mdt: DType = c.opset >= 10 ? 'bool' : dtypeOf(x);
  return [x, hostTensor(mdt, ms, new Array<number>(sizeOf(ms)).fill(1))];
}

const DATA = { name: 'data', type: 'any' as const };
const SHAPE = { name: 'shape', type: 'int' as const, host: true };

export const shapeOps: readonly OpSpec[] = [
  declare({
    op: 'Reshape', family: 'shape and indexing', since: 5, inputs: [DATA, SHAPE], outputs: ['reshaped'], differentiable: true,
    attrs: { allowzero: { kind: 'int', default: 0, oneOf: [0, 1], opsets: [14] } },
    notes: 'a 0 copies the input\'s dimension (allowzero = 0), one −1 is inferred',
    map: (c) => {
      const x = c.input(0);
      return [reshapeAny(c, x, targetShape(c, shapeOf(x), c.hostInts(1), c.int('allowzero') === 1))];
    },
  }),
  declare({
    op: 'Flatten', family: 'shape and indexing', since: 1, inputs: [{ name: 'input', type: 'any' }], outputs: ['output'], differentiable: true,
    attrs: { axis: { kind: 'int', default: 1, axis: 'r+1' } },
    map: (c) => {
      const x = c.input(0);
      const s = shapeOf(x);
      const axis = c.axis('axis');
      return [reshapeAny(c, x, [sizeOf(s.slice(0, axis)), sizeOf(s.slice(axis))])];
    },
  }),
  declare({
    op: 'Squeeze', family: 'shape and indexing', since: 1,
    inputs: [DATA, { name: 'axes', type: 'int', optional: true, host: true, opsets: [13] }], outputs: ['squeezed'], differentiable: true,
    attrs: { axes: { kind: 'ints', opsets: [1, 12], axis: 'r', doc: 'default: every axis of size 1' } },
    map: squeeze,
  }),
  declare({
    op: 'Unsqueeze', family: 'shape and indexing', since: 1,
    inputs: [DATA, { name: 'axes', type: 'int', host: true, opsets: [13] }], outputs: ['expanded'], differentiable: true,
    attrs: { axes: { kind: 'ints', required: true, opsets: [1, 12], doc: 'axes of the output, each in [-r, r-1] for the output rank r, no axis twice' } },
    map: unsqueeze,
  }),
  declare({
    op: 'Transpose', family: 'shape and indexing', since: 1, inputs: [DATA], outputs: ['transposed'], differentiable: true,
    attrs: { perm: { kind: 'ints', doc: 'a permutation of the axes; default: reversed' } },
    map: transpose,
  }),
  declare({
    op: 'Concat', family: 'shape and indexing', since: 4, inputs: [{ name: 'inputs', type: 'any', variadic: true }], outputs: ['concat_result'], differentiable: true,
    attrs: { axis: { kind: 'int', required: true, axis: 'r' } },
    map: concat,
  }),
  declare({
    op: 'Split', family: 'shape and indexing', since: 2,
    inputs: [{ name: 'input', type: 'any' }, { name: 'split', type: 'int', optional: true, host: true, opsets: [13] }], outputs: ['outputs', '...'], differentiable: true,
    attrs: {
      axis: { kind: 'int', default: 0, axis: 'r' },
      split: { kind: 'ints', opsets: [2, 12], min: 0, doc: 'sizes of the parts; default: equal parts, one per output' },
      num_outputs: { kind: 'int', opsets: [18], min: 1, doc: 'equal parts of ⌈n / num_outputs⌉, the last one smaller' },
    },
    map: split,
  }),
  declare({
    op: 'Expand', family: 'shape and indexing', since: 8, inputs: [{ name: 'input', type: 'any' }, SHAPE], outputs: ['output'], differentiable: true, attrs: {},
    notes: 'broadcasts both ways (numpy rules)',
    map: expand,
  }),
  declare({
    op: 'Tile', family: 'shape and indexing', since: 6, inputs: [{ name: 'input', type: 'any' }, { name: 'repeats', type: 'int', host: true }], outputs: ['output'],
    differentiable: true, attrs: {},
    map: tile,
  }),
  declare({
    op: 'Shape', family: 'shape and indexing', since: 1, inputs: [DATA], outputs: ['shape'], differentiable: false,
    attrs: { start: { kind: 'int', default: 0, opsets: [15] }, end: { kind: 'int', opsets: [15], doc: 'default: the rank; start and end are clamped to [0, r]' } },
    notes: 'a host value: shapes are known at import',
    map: (c) => {
      const s = shapeOf(c.input(0));
      const r = s.length;
      const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
      const dims = s.slice(clampAxis(c.int('start')), c.has('end') ? clampAxis(c.int('end')) : r);
      return [hostTensor('int64', [dims.length], dims)];
    },
  }),
  declare({
    op: 'Size', family: 'shape and indexing', since: 1, inputs: [DATA], outputs: ['size'], differentiable: false, attrs: {},
    map: (c) => [hostTensor('int64', [], [sizeOf(shapeOf(c.input(0)))])],
  }),
  declare({
    op: 'Identity', family: 'shape and indexing', since: 1, inputs: [{ name: 'input', type: 'any' }], outputs: ['output'], differentiable: true, attrs: {},
    map: (c) => [c.input(0)],
  }),
  declare({
    op: 'Dropout', family: 'shape and indexing', since: 7,
    inputs: [DATA, { name: 'ratio', type: 'float', optional: true, host: true, opsets: [12] }, { name: 'training_mode', type: 'bool', optional: true, host: true, opsets: [12] }],
    outputs: ['output', 'mask'], differentiable: true,
    attrs: {
      ratio: { kind: 'float', default: 0.5, opsets: [7, 11] },
      seed: { kind: 'int', opsets: [12], doc: 'unused: inference passes the input through' },
    },
    notes: 'inference: the identity, with an all-true mask; training mode only with ratio 0',
    map: dropout,
  }),
  declare({
    op: 'Constant', family: 'shape and indexing', since: 1, inputs: [], outputs: ['output'], differentiable: false,
    attrs: {
      value: { kind: 'tensor' },
      value_float: { kind: 'float', opsets: [12] },
      value_floats: { kind: 'floats', opsets: [12] },
      value_int: { kind: 'int', opsets: [12] },
      value_ints: { kind: 'ints', opsets: [12] },
    },
    notes: 'exactly one value attribute; a constant is not a parameter (only initializers are)',
    map: constantValue,
  }),
  declare({
    op: 'ConstantOfShape', family: 'shape and indexing', since: 9, inputs: [{ name: 'input', type: 'int', host: true }], outputs: ['output'], differentiable: false,
    attrs: { value: { kind: 'tensor', doc: 'one element; default float32 0' } },
    map: constantOfShape,
  }),
  declare({
    op: 'Range', family: 'shape and indexing', since: 11,
    inputs: [{ name: 'start', type: 'numeric', host: true }, { name: 'limit', type: 'numeric', host: true }, { name: 'delta', type: 'numeric', host: true }],
    outputs: ['output'], differentiable: false, attrs: {},
    notes: 'a host value: start, limit and delta must be known at import',
    map: range,
  }),
];

