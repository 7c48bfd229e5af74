/**
 * Functional layers: each is `init(rng, ...) → params` plus a pure function of (params, input).
 * Params are plain objects of tensors (pytrees), so grad returns gradients of the same shape.
 */
import type { DType } from '../core/dtype.js';
import { ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import * as np from '../np.js';
import { onesInit, torchDefaultUniform, zerosInit } from './init.js';

export interface LinearParams<T = Value> { W: T; b?: T }

/** Linear layer y = x W + b with W stored [in, out] (so no transpose in the graph). */
export function initLinear(rng: Rng, inFeatures: number, outFeatures: number, opts: { bias?: boolean; dtype?: DType } = {}): LinearParams<Tensor> {
  const dtype = opts.dtype ?? 'float32';
  const W = torchDefaultUniform(rng, [inFeatures, outFeatures], inFeatures, dtype);
  return opts.bias === false ? { W } : { W, b: torchDefaultUniform(rng, [outFeatures], inFeatures, dtype) };
}

export function linear(p: LinearParams, x: Value): Value {
  const y = np.matmul(x, p.W);
  return p.b ? np.add(y, p.b) : y;
}

export interface Conv2dParams<T = Value> { W: T; b?: T }
export interface Conv2dInitOptions {
  kernel?: number;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
  /** Normal init with this std instead of PyTorch's default uniform (the tutorial's ResNet cell uses 0.01). */
  std?: number;
}

/** Conv weight [out, in/groups, k, k]; PyTorch's default init unless `std` is given. */
export function initConv2d(rng: Rng, inChannels: number, outChannels: number, opts: Conv2dInitOptions = {}): Conv2dParams<Tensor> {
  const k = opts.kernel ?? 3;
  const g = opts.groups ?? 1;
  const dtype = opts.dtype ?? 'float32';
  if (inChannels % g !== 0 || outChannels % g !== 0) {
    throw new ShapeError(`initConv2d: ${inChannels} in and ${outChannels} out channels must both divide by groups=${g}`);
  }
  const shape = [outChannels, inChannels / g, k, k];
  const fanIn = (inChannels / g) * k * k;
  const W = opts.std !== undefined ? rng.randn(shape, dtype, opts.std) : torchDefaultUniform(rng, shape, fanIn, dtype);
  return opts.bias ? { W, b: torchDefaultUniform(rng, [outChannels], fanIn, dtype) } : { W };
}

export function conv2d(p: Conv2dParams, x: Value, opts: np.Conv2dOptions = {}): Value {
  const k = np.shape(p.W)[2]!;
  const y = np.conv2d(x, p.W, { padding: Math.floor(k / 2), ...opts });
  return p.b ? np.add(y, np.reshape(p.b, [1, -1, 1, 1])) : y;
}

/** Per-channel scale and shift, as in PyTorch's affine norms. */
export interface AffineParams<T = Value> { scale: T; shift: T }

export const initAffine = (channels: number, dtype: DType = 'float32'): AffineParams<Tensor> =>
  ({ scale: onesInit([channels], dtype), shift: zerosInit([channels], dtype) });

/** Apply a per-channel affine map to NC... input. */
export function affine(p: AffineParams, x: Value): Value {
  const shape = np.shape(x).map((d, i) => (i === 1 ? d : 1));
  return np.add(np.mul(x, np.reshape(p.scale, shape)), np.reshape(p.shift, shape));
}

/** Group norm with a learned per-channel affine (PyTorch's nn.GroupNorm). */
export function groupNorm(p: AffineParams, x: Value, groups: number, eps = 1e-5): Value {
  return affine(p, np.groupNorm(x, groups, eps));
}

/** Running statistics of a batch norm: explicit state, passed in and returned. */
export interface BatchNormState<T = Value> { mean: T; var: T }

export const initBatchNormState = (channels: number, dtype: DType = 'float32'): BatchNormState<Tensor> =>
  ({ mean: zerosInit([channels], dtype), var: onesInit([channels], dtype) });

export interface BatchNormOptions {
  train: boolean;
  /** Weight of the new batch in the running averages (PyTorch's default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * Batch norm over N and the spatial axes of NC... input. In training mode it normalises with the
 * batch statistics and returns updated running statistics (the running variance is unbiased, as in
 * PyTorch); in eval mode it uses the running statistics and returns the state unchanged.
 */
export function batchNorm(p: AffineParams, state: BatchNormState, x: Value, opts: BatchNormOptions): { y: Value; state: BatchNormState } {
  const s = np.shape(x);
  if (s.length < 2) throw new ShapeError(`batchNorm: input must be [N, C, ...], got [${s}]`);
  const axes = s.map((_, i) => i).filter((i) => i !== 1);
  const bshape = s.map((d, i) => (i === 1 ? d : 1));
  const eps = opts.eps ?? 1e-5;
  if (!opts.train) {
    const y = np.div(np.sub(x, np.reshape(state.mean, bshape)), np.sqrt(np.add(np.reshape(state.var, bshape), eps)));
    return { y: affine(p, y), state };
  }
  const count = s.reduce((a, d, i) => (i === 1 ? a : a * d), 1);
  const mean = np.mean(x, axes, true);
  const centred = np.sub(x, mean);
  const variance = np.mean(np.mul(centred, centred), axes, true);
  const y = affine(p, np.div(centred, np.sqrt(np.add(variance, eps))));
  // the running averages are state, not part of the differentiated computation
  const m = opts.momentum ?? 0.1;
  const batchMean = np.stopGradient(np.reshape(mean, [s[1]!]));
  const unbiased = np.stopGradient(np.mul(np.reshape(variance, [s[1]!]), count / Math.max(count - 1, 1)));
  const next = {
    mean: np.add(np.mul(state.mean, 1 - m), np.mul(batchMean, m)),
    var: np.add(np.mul(state.var, 1 - m), np.mul(unbiased, m)),
  };
  return { y, state: next };
}

/** Average pooling with a square window and stride = window (PyTorch's AvgPool2d(k, k)). */
export const avgPool = (x: Value, kernel: number): Value => np.avgPool(x, kernel);

/** [N, ...] → [N, prod(...)]. */
export const flatten = (x: Value): Value => np.flatten(x, 1);
