/** The tutorial's fixed-point cells z' = f(z, x, params), as pure functions with init helpers. */
import type { DType } from '../core/dtype.js';
import type { Value } from '../core/primitive.js';
import type { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import * as np from '../np.js';
import { type AffineParams, conv2d, groupNorm, initAffine, initConv2d } from './layers.js';
import { torchDefaultUniform } from './init.js';

export interface TanhCellParams<T = Value> { W: T }

/** tanh(z W + x): the tutorial's TanhFixedPointLayer (W is PyTorch's Linear(n, n, bias=False)). */
export const tanhCell = (z: Value, x: Value, p: TanhCellParams): Value => np.tanh(np.add(np.matmul(z, p.W), x));

export const initTanhCell = (rng: Rng, features: number, dtype: DType = 'float32'): TanhCellParams<Tensor> =>
  ({ W: torchDefaultUniform(rng, [features, features], features, dtype) });

export interface ResNetCellParams<T = Value> {
  conv1: { W: T };
  conv2: { W: T };
  norm1: AffineParams<T>;
  norm2: AffineParams<T>;
  norm3: AffineParams<T>;
}

export interface ResNetCellOptions {
  /** Groups of every group norm (the tutorial's num_groups, default 8). */
  groups?: number;
}

/**
 * The tutorial's ResNetLayer: norm3(relu(z + norm2(x + conv2(norm1(relu(conv1(z))))))).
 * Convolutions have no bias and keep the spatial size (padding = kernel / 2).
 */
export function resNetCell(z: Value, x: Value, p: ResNetCellParams, opts: ResNetCellOptions = {}): Value {
  const g = opts.groups ?? 8;
  const y = groupNorm(p.norm1, np.relu(conv2d(p.conv1, z)), g);
  return groupNorm(p.norm3, np.relu(np.add(z, groupNorm(p.norm2, np.add(x, conv2d(p.conv2, y)), g))), g);
}

export interface ResNetCellInit {
  channels: number;
  innerChannels: number;
  kernel?: number;
  dtype?: DType;
}

/** Conv weights N(0, 0.01) as in the tutorial; norms start as the identity affine map. */
export function initResNetCell(rng: Rng, o: ResNetCellInit): ResNetCellParams<Tensor> {
  const kernel = o.kernel ?? 3;
  const dtype = o.dtype ?? 'float32';
  return {
    conv1: initConv2d(rng, o.channels, o.innerChannels, { kernel, std: 0.01, dtype }) as { W: Tensor },
    conv2: initConv2d(rng, o.innerChannels, o.channels, { kernel, std: 0.01, dtype }) as { W: Tensor },
    norm1: initAffine(o.innerChannels, dtype),
    norm2: initAffine(o.channels, dtype),
    norm3: initAffine(o.channels, dtype),
  };
}
