/** Seeded initialisers. Defaults follow PyTorch so that models train like their PyTorch peers. */
import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/random.js';
import type { Shape, Tensor } from '../core/tensor.js';
import { full } from '../core/tensor.js';

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for Linear and Conv2d weights and biases. */
export function torchDefaultUniform(rng: Rng, shape: Shape, fanIn: number, dtype: DType = 'float32'): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return rng.uniform(shape, dtype, -bound, bound);
}

/** N(mean, std²), e.g. the tutorial's N(0, 0.01) for the ResNet cell's convolutions. */
export const normalInit = (rng: Rng, shape: Shape, std: number, dtype: DType = 'float32', mean = 0): Tensor =>
  rng.randn(shape, dtype, std, mean);

export const zerosInit = (shape: Shape, dtype: DType = 'float32'): Tensor => full(shape, 0, dtype);
export const onesInit = (shape: Shape, dtype: DType = 'float32'): Tensor => full(shape, 1, dtype);
