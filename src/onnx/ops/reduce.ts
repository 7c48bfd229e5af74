/**
 * Reductions. Axes come from an attribute (ReduceSum before opset 13, the others before 18) or a
 * host input; no axes reduce everything unless noop_with_empty_axes says to pass the input through.
 */
import type { Value } from '../../core/primitive.js';
import * as np from '../../np.js';
import { type OpContext, type OpSpec, declare, dtypeOf, rankOf, shapeOf } from './declare.js';
import { hostReduce } from './host.js';

interface Reduction {
  op: string;
  traced: (x: Value, axes: number[], keep: boolean) => Value;
  /** Folding of host values (integer shape arithmetic). */
  host?: [(a: number, b: number) => number, number];
  type: 'float' | 'numeric';
  notes?: string;
}

/** The product over axes as a chain of products of slices (no log of negatives or zeros). */
function prod(x: Value, axes: number[], keep: boolean): Value {
  const s = shapeOf(x);
  const rest = s.map((_, i) => i).filter((i) => !axes.includes(i));
  const k = axes.reduce((a, i) => a * s[i]!, 1);
  const flat = np.reshape(np.transpose(x, [...rest, ...axes]), [...rest.map((i) => s[i]!), k]);
  let y: Value = np.fill(rest.map((i) => s[i]!), 1, dtypeOf(x));
  for (let j = 0; j < k; j++) y = np.mul(y, np.reshape(np.sliceAxis(flat, -1, j, j + 1), rest.map((i) => s[i]!)));
  return keep ? np.reshape(y, s.map((d, i) => (axes.includes(i) ? 1 : d))) : y;
}

const REDUCTIONS: Reduction[] = [
  { op: 'ReduceSum', traced: np.sum, host: [(a, b) => a + b, 0], type: 'numeric' },
  { op: 'ReduceMean', traced: np.mean, type: 'float' },
  { op: 'ReduceMax', traced: np.max, host: [Math.max, -Infinity], type: 'numeric', notes: 'tied maxima share the derivative equally' },
  { op: 'ReduceMin', traced: np.min, host: [Math.min, Infinity], type: 'numeric', notes: 'tied minima share the derivative equally' },
  { op: 'ReduceProd', traced: prod, host: [(a, b) => a * b, 1], type: 'numeric', notes: 'a chain of products, one per reduced element' },
  { op: 'ReduceL1', traced: (x, a, k) => np.sum(np.abs(x), a, k), type: 'float' },
  { op: 'ReduceL2', traced: (x, a, k) => np.sqrt(np.sum(np.square(x), a, k)), type: 'float', notes: 'no derivative where the norm is 0' },
  { op: 'ReduceSumSquare', traced: (x, a, k) => np.sum(np.square(x), a, k), type: 'float' },
  { op: 'ReduceLogSum', traced: (x, a, k) => np.log(np.sum(x, a, k)), type: 'float' },
  { op: 'ReduceLogSumExp', traced: np.logSumExp, type: 'float' },
];

function reduction(r: Reduction): OpSpec {
  // the opset from which axes are an input
  const axesInput = r.op === 'ReduceSum' ? 13 : 18;
  const map = (c: OpContext): Value[] => {
    const x = c.input(0);
    const rank = rankOf(x);
    const given = c.opset >= axesInput ? (c.optionalInput(1) ? c.hostInts(1) : []) : (c.ints('axes') ?? []);
    const keep = c.int('keepdims') === 1;
    const noop = c.opset >= axesInput && c.int('noop_with_empty_axes') === 1;
    if (given.length === 0 && noop) return [x];
    const axes = given.length ? c.axesOf(given, rank, 'axes').sort((a, b) => a - b) : [...Array(rank).keys()];
    const h = r.host && c.folded()?.[0];
    if (h) return [hostReduce(h, axes, keep, ...r.host!)];
    return [r.traced(x, axes, keep)];
  };
  return declare({
    op: r.op,
    family: 'reductions',
    since: 1,
    inputs: [{ name: 'data', type: r.type }, { name: 'axes', type: 'int', optional: true, host: true, opsets: [axesInput] }],
    outputs: ['reduced'],
    differentiable: true,
    attrs: {
      axes: { kind: 'ints', opsets: [1, axesInput - 1], axis: 'r', doc: 'default: every axis' },
      keepdims: { kind: 'int', default: 1, oneOf: [0, 1] },
      noop_with_empty_axes: { kind: 'int', default: 0, oneOf: [0, 1], opsets: [axesInput] },
    },
    notes: r.notes,
    map,
  });
}

export const reduceOps: readonly OpSpec[] = REDUCTIONS.map(reduction);
