/**
 * Normalisation layers as composites (on ops/composites's standardize, so derivatives follow):
 * LayerNormalization, InstanceNormalization (and with it PyTorch's GroupNorm export: Reshape →
 * InstanceNormalization → Reshape → Mul → Add), GroupNormalization (opset 18: one scale per group;
 * 21: one per channel), BatchNormalization (inference, and training mode's batch statistics),
 * MeanVarianceNormalization.
 */
import type { DType } from '../../core/dtype.js';
import type { Value } from '../../core/primitive.js';
import * as np from '../../np.js';
import { standardize } from '../../ops/composites.js';
import { type OpContext, type OpSpec, declare, dtypeOf, rankOf, shapeOf } from './declare.js';

/** Per-channel parameters [C] shaped to broadcast against N×C×… */
function perChannel(c: OpContext, v: Value, rank: number, channels: number, name: string): Value {
  const s = shapeOf(v);
  if (s.length !== 1 || s[0] !== channels) c.fail(`${name} must have shape [${channels}] (one per channel), got [${s}]`);
  return np.reshape(v, [channels, ...new Array<number>(rank - 2).fill(1)]);
}

const STASH: Record<number, DType> = { 1: 'float32', 11: 'float64' };

function layerNormalization(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  const axis = c.axis('axis');
  const dtype = dtypeOf(x);
  const stash = STASH[c.int('stash_type')]!;
  // compute in the wider of the input's and the stash type
  const wide: DType = dtype === 'float64' || stash === 'float64' ? 'float64' : 'float32';
  const axes = s.map((_, i) => i).filter((i) => i >= axis);
  const { y, mean, std } = standardize(np.astype(x, wide), axes, c.float('epsilon'));
  const norm = s.slice(axis);
  const affine = (v: Value | undefined, name: string): Value | undefined => {
    if (!v) return undefined;
    const vs = shapeOf(v);
    const ok = vs.length <= norm.length && vs.every((d, i) => d === 1 || d === norm[norm.length - vs.length + i]);
    if (!ok) c.fail(`${name} [${vs}] must broadcast to the normalised shape [${norm}]`);
    return np.astype(v, wide);
  };
  const scale = affine(c.input(1), 'Scale');
  const bias = affine(c.optionalInput(2), 'B');
  const out = np.astype(bias ? np.add(np.mul(y, scale!), bias) : np.mul(y, scale!), dtype);
  return [out, np.astype(mean, stash), np.astype(np.div(1, std), stash)];
}

function instanceNormalization(c: OpContext): Value[] {
  const x = c.input(0);
  const r = rankOf(x);
  if (r < 3) c.fail(`input must be N×C×spatial (rank 3 or more), got [${shapeOf(x)}]`);
  const ch = shapeOf(x)[1]!;
  const { y } = standardize(x, [...Array(r - 2).keys()].map((i) => i + 2), c.float('epsilon'));
  return [np.add(np.mul(y, perChannel(c, c.input(1), r, ch, 'scale')), perChannel(c, c.input(2), r, ch, 'B'))];
}

function groupNormalization(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  if (s.length < 3) c.fail(`input must be N×C×spatial (rank 3 or more), got [${s}]`);
  const [n, ch] = [s[0]!, s[1]!];
  const groups = c.int('num_groups');
  if (ch % groups !== 0) c.fail(`${ch} channels do not split into num_groups = ${groups}`);
  const stash = STASH[c.int('stash_type')]!;
  const dtype = dtypeOf(x);
  const wide: DType = dtype === 'float64' || stash === 'float64' ? 'float64' : 'float32';
  const y = np.groupNorm(np.astype(x, wide), groups, c.float('epsilon'));
  const [scale, bias] = [c.input(1), c.input(2)].map((v) => np.astype(v, wide)) as [Value, Value];
  if (c.opset >= 21) return [np.astype(np.add(np.mul(y, perChannel(c, scale, s.length, ch, 'scale')), perChannel(c, bias, s.length, ch, 'bias')), dtype)];
  // opset 18: one scale and bias per group
  for (const [v, name] of [[scale, 'scale'], [bias, 'bias']] as const) {
    if (shapeOf(v).length !== 1 || shapeOf(v)[0] !== groups) c.fail(`${name} must have shape [${groups}] (one per group, opset 18), got [${shapeOf(v)}]`);
  }
  const per = (v: Value) => np.reshape(v, [1, groups, 1]);
  const yg = np.reshape(y, [n, groups, -1]);
  return [np.astype(np.reshape(np.add(np.mul(yg, per(scale)), per(bias)), s), dtype)];
}

function batchNormalization(c: OpContext): Value[] {
  const x = c.input(0);
  const s = shapeOf(x);
  if (s.length < 2) c.fail(`input must be N×C×… (rank 2 or more), got [${s}]`);
  if (c.opset < 9 && c.int('spatial') !== 1) c.fail('spatial = 0 (per-activation statistics) is not supported');
  const r = s.length;
  const ch = s[1]!;
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => perChannel(c, c.input(i), r, ch, c.spec.inputs[i]!.name)) as [Value, Value, Value, Value];
  const eps = c.float('epsilon');
  const affine = (y: Value) => np.add(np.mul(y, scale), bias);
  const training = c.opset >= 14 && c.int('training_mode') === 1;
  if (!training) {
    for (let i = 1; i < c.outputCount; i++) if (c.wants(i)) c.fail(`output ${i} (${c.spec.outputs[i]}) exists in training mode only`);
    return [affine(np.div(np.sub(x, mean), np.sqrt(np.add(variance, eps))))];
  }
  // training mode: normalise with the batch's statistics, and update the running ones
  const axes = s.map((_, i) => i).filter((i) => i !== 1);
  const { y, mean: batchMean, variance: batchVar } = standardize(x, axes, eps);
  const m = c.float('momentum');
  const running = (old: Value, now: Value) => np.reshape(np.add(np.mul(old, m), np.mul(now, 1 - m)), [ch]);
  return [affine(y), running(mean, batchMean), running(variance, batchVar)];
}

const F = 'float' as const;
const epsilon = { kind: 'float' as const, default: 1e-5 };

export const normalizationOps: readonly OpSpec[] = [
  declare({
    op: 'LayerNormalization', family: 'normalization', since: 17,
    inputs: [{ name: 'X', type: F }, { name: 'Scale', type: F }, { name: 'B', type: F, optional: true }],
    outputs: ['Y', 'Mean', 'InvStdDev'], differentiable: true,
    attrs: {
      axis: { kind: 'int', default: -1, axis: 'r' },
      epsilon,
      stash_type: { kind: 'int', default: 1, oneOf: [1, 11], doc: 'type of Mean and InvStdDev (1 float32, 11 float64)' },
    },
    notes: 'computed in the wider of the input and stash types',
    map: layerNormalization,
  }),
  declare({
    op: 'InstanceNormalization', family: 'normalization', since: 6,
    inputs: [{ name: 'input', type: F }, { name: 'scale', type: F }, { name: 'B', type: F }], outputs: ['output'], differentiable: true,
    attrs: { epsilon },
    notes: 'with it PyTorch\'s GroupNorm export (Reshape → InstanceNormalization → Reshape → Mul → Add)',
    float64: 'composite of float64 kernels (onnxruntime has no float64 InstanceNormalization)',
    map: instanceNormalization,
  }),
  declare({
    op: 'GroupNormalization', family: 'normalization', since: 18,
    inputs: [{ name: 'X', type: F }, { name: 'scale', type: F }, { name: 'bias', type: F }], outputs: ['Y'], differentiable: true,
    attrs: {
      num_groups: { kind: 'int', required: true, min: 1 },
      epsilon,
      stash_type: { kind: 'int', default: 1, oneOf: [1, 11], opsets: [21] },
    },
    notes: 'opsets 18–20: scale and bias per group; 21: per channel',
    map: groupNormalization,
  }),
  declare({
    op: 'BatchNormalization', family: 'normalization', since: 7,
    inputs: [{ name: 'X', type: F }, { name: 'scale', type: F }, { name: 'B', type: F }, { name: 'input_mean', type: F }, { name: 'input_var', type: F }],
    outputs: ['Y', 'running_mean', 'running_var'], differentiable: true,
    attrs: {
      epsilon,
      momentum: { kind: 'float', default: 0.9 },
      spatial: { kind: 'int', default: 1, oneOf: [0, 1], opsets: [7, 8] },
      training_mode: { kind: 'int', default: 0, oneOf: [0, 1], opsets: [14] },
    },
    notes: 'inference form; training_mode = 1 normalises with the batch statistics and returns the updated running ones',
    map: batchNormalization,
  }),
  declare({
    op: 'MeanVarianceNormalization', family: 'normalization', since: 9, inputs: [{ name: 'X', type: F }], outputs: ['Y'], differentiable: true,
    attrs: { axes: { kind: 'ints', default: [0, 2, 3], axis: 'r' } },
    notes: '(X − mean) / √(variance + 1e-9), as ONNX\'s function body',
    map: (c) => {
      const x = c.input(0);
      const axes = c.axesOf(c.ints('axes')!, rankOf(x), 'axes');
      return [standardize(x, axes, 1e-9).y];
    },
  }),
];
