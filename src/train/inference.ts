/**
 * Inference statistics of a trained model on a data set: its error and loss, and each sample's
 * forward-solve iterations and final relative residual, as a batch-1 solve would give them (the
 * solve's per-sample books), so that their distribution can be read off to pick a test-time
 * tolerance: median, p90, max, and the share of samples that never reached the tolerance.
 */
import type { RuntimeOptions } from '../backend/runtime.js';
import { InputError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Tensor } from '../core/tensor.js';
import type { Model } from '../nn/models.js';
import { type ConcreteStats, readStats } from '../solvers/index.js';
import { jit } from '../transforms/jit.js';
import { batches, type Dataset } from './data.js';
import { crossEntropyLoss, errorCount } from './losses.js';

export interface Distribution {
  median: number;
  p90: number;
  max: number;
  mean: number;
}

export interface InferenceStats {
  samples: number;
  error: number;
  loss: number;
  /** Mean iterations of the batched solves (a batch iterates until its slowest sample is done). */
  batchIterations: number;
  /** Per sample: iterations to first reach the tolerance (maxIter when it never did). */
  iterations: number[];
  /** Per sample: the relative residual ‖f(z) − z‖ / ‖f(z)‖ of its solution. */
  relResidual: number[];
  /** Samples whose relative residual never went below the tolerance. */
  notConverged: number;
}

/** The q-quantile by linear interpolation between order statistics (numpy's default); NaN sorts last. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return lo === hi || s[lo] === s[hi] ? s[lo]! : s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function distribution(values: readonly number[]): Distribution {
  let max = -Infinity, sum = 0;
  for (const v of values) {
    // a non-finite residual (a diverged sample) is the maximum
    max = Number.isNaN(v) || Number.isNaN(max) ? NaN : Math.max(max, v);
    sum += v;
  }
  return { median: quantile(values, 0.5), p90: quantile(values, 0.9), max: values.length ? max : NaN, mean: values.length ? sum / values.length : NaN };
}

/**
 * Run `model` (built with `perSample: true` in its solver options, stopping on the relative
 * residual) in eval mode over `ds` in batches of `batchSize`, collecting every sample's solve.
 */
export async function inferenceStats(model: Model, params: unknown, state: unknown, ds: Dataset, batchSize: number, tol: number, runtime: RuntimeOptions = {}): Promise<InferenceStats> {
  if (model.deq === false) throw new InputError(`model ${model.name} has an explicit layer in place of the DEQ: there are no solves to report`);
  if (!model.deq.perSample || (model.deq.stopOn ?? 'rel') !== 'rel') {
    throw new InputError('inferenceStats: build the model with perSample: true and the relative stopping criterion in its solver options');
  }
  const graph = jit((p: unknown, s: unknown, x: Value, y: Value) => {
    const out = model.apply(p, s, x, { train: false });
    return { loss: crossEntropyLoss(out.logits, y), errors: errorCount(out.logits, y), stats: out.stats };
  }, { ...runtime, name: `${model.name}_inference` });
  let loss = 0, errors = 0, n = 0, batchIters = 0, solves = 0;
  const iterations: number[] = [];
  const relResidual: number[] = [];
  try {
    for (const { x, y } of batches(ds, batchSize)) {
      const out = (await graph(params, state, x, y)) as { loss: Tensor; errors: Tensor; stats: ConcreteStats | null };
      const k = y.shape[0]!;
      loss += out.loss.item() * k;
      errors += out.errors.item();
      n += k;
      const r = out.stats ? readStats(out.stats) : null;
      if (!r?.sampleIterations || !r.sampleRelResidual) throw new InputError(`model ${model.name}'s solve reported no per-sample statistics`);
      batchIters += r.iterations;
      solves++;
      iterations.push(...r.sampleIterations);
      relResidual.push(...r.sampleRelResidual);
    }
  } finally {
    await graph.release();
  }
  if (n === 0) throw new InputError('inferenceStats: the data set is empty');
  return {
    samples: n,
    error: errors / n,
    loss: loss / n,
    batchIterations: batchIters / solves,
    iterations,
    relResidual,
    notConverged: relResidual.filter((r) => !(r < tol)).length,
  };
}
