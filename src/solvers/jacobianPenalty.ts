/**
 * Jacobian regularisation for DEQs: ‖∂f/∂z‖²_F at the fixed point, estimated by Hutchinson's
 * estimator from a few VJPs, as a term to add to a training loss. A small Frobenius norm keeps the
 * cell contractive around z*, so the forward and backward solves keep converging as training goes on.
 */
import { type DType, isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Rng } from '../core/random.js';
import { type Shape, sizeOf, Tensor } from '../core/tensor.js';
import { linearizeMap } from './linearize.js';
import * as np from '../np.js';

export interface JacobianPenaltyOptions {
  /**
   * Probe vectors ε, shape [samples, ...shape of z*], with E[ε εᵀ] = I (Rademacher or Gaussian;
   * `jacobianNoise` draws them). They are an input rather than drawn in the graph, so a compiled
   * step stays one graph whatever the seed and a resumed run replays the same probes.
   */
  noise: Value;
}

/**
 * Hutchinson's estimate of ‖∂f/∂z‖²_F at z* per element of z*:
 *
 *   penalty = (1 / (S · N)) Σₛ ‖εₛᵀ J‖²,   J = ∂f(z, ...args)/∂z at z = z*,
 *
 * with S probe vectors εₛ (`opts.noise`) and N the number of elements of z* (batch included), the
 * normalisation of the reference DEQ implementations. Since E[εᵀ J Jᵀ ε] = tr(J Jᵀ) = ‖J‖²_F, the
 * expectation is ‖J‖²_F / N; for a cell that treats samples independently J is block diagonal, so
 * that is the batch mean of each sample's ‖J_b‖²_F divided by the features per sample.
 *
 * Each εₛᵀ J is one VJP of the cell; the penalty is written with ordinary ops, so `grad` of a loss
 * that adds it differentiates those VJPs (second derivatives of the cell's primitives) with respect
 * to the cell's params and inputs. Pass `np.stopGradient(zStar)` to treat z* as a constant, as the
 * reference implementations do (their solve runs without gradient); pass z* itself to also
 * differentiate through the solve by the implicit function theorem.
 *
 * `f` and `args` are those given to `fixedPoint`: f(z, ...args) must have the shape of z.
 */
export function jacobianPenalty(f: (z: Value, ...args: any[]) => Value, zStar: Value, args: readonly unknown[], opts: JacobianPenaltyOptions): Value {
  const zShape = np.shape(zStar);
  const noiseShape = np.shape(opts.noise);
  const fits = noiseShape.length === zShape.length + 1 && zShape.every((d, i) => noiseShape[i + 1] === d);
  if (!fits || noiseShape[0]! < 1) {
    throw new ShapeError(`jacobianPenalty: noise [${noiseShape}] must be [samples, ${zShape.join(', ')}] (samples ≥ 1) for z* [${zShape}]; draw it with jacobianNoise(rng, [${zShape}], { samples })`);
  }
  const dtype = np.dtype(zStar);
  if (!isFloat(dtype) || np.dtype(opts.noise) !== dtype) {
    throw new DTypeError(`jacobianPenalty: z* is ${dtype} and noise is ${np.dtype(opts.noise)}; both must be the same float dtype (jacobianNoise takes { dtype })`);
  }
  const cell = (z: Value) => {
    const fz = f(z, ...args);
    const s = np.shape(fz);
    if (s.length !== zShape.length || s.some((d, i) => d !== zShape[i])) {
      throw new ShapeError(`jacobianPenalty: the cell maps z [${zShape}] to [${s}]; a fixed-point cell must keep the shape of z`);
    }
    return fz;
  };
  // linearise once; each probe is then one transposed application of the linear part
  const lin = linearizeMap(cell, zStar);
  const samples = noiseShape[0]!;
  let total: Value | null = null;
  for (let s = 0; s < samples; s++) {
    const probe = np.reshape(np.sliceAxis(opts.noise, 0, s, s + 1), zShape);
    const vJ = lin.vjp(probe);
    const sq = np.sum(np.mul(vJ, vJ));
    total = total ? np.add(total, sq) : sq;
  }
  return np.div(total!, samples * sizeOf(zShape));
}

/** Rademacher: each entry ±1 with probability ½. Gaussian: each entry N(0, 1). */
export type ProbeDistribution = 'rademacher' | 'gaussian';

export interface JacobianNoiseOptions {
  /** Probe vectors per estimate (default 1; the reference DEQ training uses one). */
  samples?: number;
  /**
   * Default 'rademacher': both give an unbiased estimate, and Rademacher probes have the smaller
   * variance, 2(‖A‖²_F − Σᵢ Aᵢᵢ²) against 2‖A‖²_F for Gaussian ones (A = J Jᵀ, one probe).
   */
  distribution?: ProbeDistribution;
  dtype?: DType;
}

/** Probe vectors for `jacobianPenalty`, [samples, ...zShape], drawn on the host from a seeded Rng. */
export function jacobianNoise(rng: Rng, zShape: Shape, opts: JacobianNoiseOptions = {}): Tensor {
  const samples = opts.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new ShapeError(`jacobianNoise: samples must be a positive integer, got ${samples}`);
  const dtype = opts.dtype ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`jacobianNoise: dtype must be float32 or float64, got ${dtype}`);
  const shape = [samples, ...zShape];
  if ((opts.distribution ?? 'rademacher') === 'gaussian') return rng.randn(shape, dtype);
  const t = new Tensor(dtype, shape);
  const d = t.data as Float64Array;
  for (let i = 0; i < d.length; i++) d[i] = rng.next() < 0.5 ? -1 : 1;
  return t;
}
