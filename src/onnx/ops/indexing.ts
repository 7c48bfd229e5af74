/** Indexing: Slice (steps of either sign, clamped and negative indices), Gather, Pad (four modes), Where. */
import type { Value } from '../../core/primitive.js';
import * as np from '../../np.js';
import { clampSlice } from '../../ops/strided.js';
import { type OpContext, type OpSpec, declare, dtypeOf, shapeOf } from './declare.js';
import { hostElementwise, hostGather, hostSlice } from './host.js';

function slice(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const r = s.length;
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (c.opset >= 10) {
    [starts, ends] = [c.hostInts(1), c.hostInts(2)];
    axes = c.optionalInput(3) ? c.hostInts(3) : undefined;
    steps = c.optionalInput(4) ? c.hostInts(4) : undefined;
  } else {
    [starts, ends, axes] = [c.ints('starts')!, c.ints('ends')!, c.ints('axes')];
  }
  const ax = c.axesOf(axes ?? starts.map((_, i) => i), r, 'axes');
  if (ends.length !== starts.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) {
    c.fail(`starts [${starts}], ends [${ends}], axes [${axes ?? ''}] and steps [${steps ?? ''}] must have one entry per sliced axis`);
  }
  const [st, en, sp] = [s.map(() => 0), [...s], s.map(() => 1)];
  ax.forEach((a, k) => {
    const step = steps?.[k] ?? 1;
    if (step === 0) c.fail(`steps [${steps}] has a 0`);
    [st[a], en[a]] = clampSlice(starts[k]!, ends[k]!, step, s[a]!);
    sp[a] = step;
  });
  if (c.isHost(x)) {
    // empty axes as [0:0:1], as stridedSlice writes them
    sp.forEach((step, i) => {
      if (Math.ceil((en[i]! - st[i]!) / step) <= 0) [st[i], en[i], sp[i]] = [0, 0, 1];
    });
    return [hostSlice(x, st, en, sp)];
  }
  return [np.stridedSlice(x, st, en, sp)];
}

function gather(c: OpContext): Value[] {
  const [x, idx] = [c.input(0), c.input(1)];
  const axis = c.axis('axis');
  const n = shapeOf(x)[axis]!;
  if (c.isHost(idx)) {
    const bad = idx.toArray().find((k) => k < -n || k >= n);
    if (bad !== undefined) c.fail(`index ${bad} is out of range for axis ${axis} of length ${n}`);
    if (c.isHost(x)) return [hostGather(x, idx, axis)];
  }
  return [np.gather(x, idx, axis)];
}

/** Pad one axis by [before, after] (non-negative) in a non-constant mode. */
function padAxis(c: OpContext, x: Value, axis: number, before: number, after: number, mode: string): Value {
  if (before === 0 && after === 0) return x;
  const n = shapeOf(x)[axis]!;
  const part = (a: number, b: number) => np.sliceAxis(x, axis, a, b);
  let left: Value[] = [];
  let right: Value[] = [];
  if (mode === 'edge') {
    if (n === 0) c.fail(`edge mode cannot pad axis ${axis}, which is empty`);
    const rep = (v: Value, k: number) => np.broadcastTo(v, shapeOf(v).map((d, i) => (i === axis ? k : d)));
    left = before ? [rep(part(0, 1), before)] : [];
    right = after ? [rep(part(n - 1, n), after)] : [];
  } else if (mode === 'reflect') {
    if (before >= n || after >= n) c.fail(`reflect mode pads axis ${axis} of length ${n} by [${before}, ${after}]; each must be below the length`);
    left = before ? [np.flip(part(1, before + 1), axis)] : [];
    right = after ? [np.flip(part(n - 1 - after, n - 1), axis)] : [];
  } else {
    if (before > n || after > n) c.fail(`wrap mode pads axis ${axis} of length ${n} by [${before}, ${after}]; each must be at most the length`);
    left = before ? [part(n - before, n)] : [];
    right = after ? [part(0, after)] : [];
  }
  return np.concat([...left, x, ...right], axis);
}

function pad(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const r = s.length;
  const mode = c.string('mode');
  if (mode === 'wrap' && c.opset < 19) c.fail('mode wrap exists from opset 19');
  const given = c.opset >= 11 ? c.hostInts(1) : c.ints('pads')!;
  const axes = c.opset >= 18 && c.optionalInput(3) ? c.axesOf(c.hostInts(3), r, 'axes') : [...Array(r).keys()];
  if (given.length !== 2 * axes.length) c.fail(`pads [${given}] must hold ${2 * axes.length} values (begins, then ends, of ${axes.length} axes)`);
  const pads = s.map(() => [0, 0] as [number, number]);
  axes.forEach((a, k) => { pads[a] = [given[k]!, given[k + axes.length]!]; });
  // negative pads crop
  const cropped = pads.some(([a, b]) => a < 0 || b < 0)
    ? np.slice(x, pads.map(([a]) => Math.max(0, -a)), s.map((d, i) => d - Math.max(0, -pads[i]![1])))
    : x;
  if (shapeOf(cropped).some((d) => d < 0)) c.fail(`pads [${given}] crop more than the input [${s}] holds`);
  const grow = pads.map(([a, b]) => [Math.max(0, a), Math.max(0, b)] as [number, number]);
  if (mode !== 'constant') {
    if (c.optionalInput(2)) c.fail(`a constant_value is given for mode ${mode}`);
    return [grow.reduce((v, [a, b], i) => padAxis(c, v, i, a, b, mode), cropped)];
  }
  const value = c.opset >= 11 ? c.optionalInput(2) : undefined;
  if (value && shapeOf(value).some((d) => d !== 1)) c.fail(`constant_value must be a scalar, got shape [${shapeOf(value)}]`);
  const padded = np.pad(cropped, grow);
  const fill = value ? np.reshape(value, []) : c.opset < 11 ? c.float('value') : 0;
  if (fill === 0) return [padded];
  // outside the input: fill; inside: the input
  const inside = np.pad(np.fill(shapeOf(cropped), 1, dtypeOf(x)), grow);
  return [np.add(padded, np.mul(np.sub(1, inside), fill))];
}

export const indexingOps: readonly OpSpec[] = [
  declare({
    op: 'Slice', family: 'shape and indexing', since: 1,
    inputs: [
      { name: 'data', type: 'any' },
      { name: 'starts', type: 'int', host: true, opsets: [10] },
      { name: 'ends', type: 'int', host: true, opsets: [10] },
      { name: 'axes', type: 'int', optional: true, host: true, opsets: [10] },
      { name: 'steps', type: 'int', optional: true, host: true, opsets: [10] },
    ],
    outputs: ['output'], differentiable: true,
    attrs: {
      starts: { kind: 'ints', required: true, opsets: [1, 9] },
      ends: { kind: 'ints', required: true, opsets: [1, 9] },
      axes: { kind: 'ints', opsets: [1, 9], axis: 'r' },
    },
    notes: 'negative indices count from the back; out-of-range ones are clamped; steps of either sign',
    map: slice,
  }),
  declare({
    op: 'Gather', family: 'shape and indexing', since: 1, inputs: [{ name: 'data', type: 'any' }, { name: 'indices', type: 'int' }], outputs: ['output'],
    differentiable: true, attrs: { axis: { kind: 'int', default: 0, axis: 'r' } },
    notes: 'the reverse mode scatters with ScatterElements (add); host indices are range-checked at import',
    map: gather,
  }),
  declare({
    op: 'Pad', family: 'shape and indexing', since: 2,
    inputs: [
      { name: 'data', type: 'numeric' },
      { name: 'pads', type: 'int', host: true, opsets: [11] },
      { name: 'constant_value', type: 'numeric', optional: true, opsets: [11] },
      { name: 'axes', type: 'int', optional: true, host: true, opsets: [18] },
    ],
    outputs: ['output'], differentiable: true,
    attrs: {
      mode: { kind: 'string', default: 'constant', oneOf: ['constant', 'reflect', 'edge', 'wrap'], doc: 'wrap from opset 19' },
      pads: { kind: 'ints', required: true, opsets: [2, 10] },
      value: { kind: 'float', default: 0, opsets: [2, 10] },
    },
    notes: 'negative pads crop; the derivative reaches constant_value too',
    map: pad,
  }),
  declare({
    op: 'Where', family: 'shape and indexing', since: 9, inputs: [{ name: 'condition', type: 'bool' }, { name: 'X', type: 'any' }, { name: 'Y', type: 'any' }],
    outputs: ['output'], differentiable: true, attrs: {},
    map: (c) => {
      const h = c.foldedRest();
      if (h) return [hostElementwise('Where', h, (k, a, b) => (k ? a : b), dtypeOf(c.input(1)))];
      return [np.where(c.input(0), c.input(1), c.input(2))];
    },
  }),
];
