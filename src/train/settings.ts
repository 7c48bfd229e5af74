/**
 * The model settings of a run, as data (model.ts builds the model they describe; it reads cell
 * files' hashes, so it stays with the file system, while these travel to the browser's loop).
 */
import type { ModelName } from '../nn/models.js';
import type { OptimizerName, ScheduleName } from './loop.js';
import type { FixedPointOptions } from '../solvers/index.js';
import type { CellSource } from './cellSource.js';

/** Weight normalisation (trained gains) or spectral normalisation (power iteration) of the DEQ cell's weights. */
export type NormalizationName = 'weight' | 'spectral';
export const normalizationNames: readonly NormalizationName[] = ['weight', 'spectral'];

export interface ModelSettings {
  /** A built-in model, or 'cell': a DEQ on the .onnx cell that `cell` names (its bytes come with the run's options). */
  model: ModelName | 'cell';
  cell?: CellSource;
  /** Overrides of the model's solver defaults, or false for an explicit layer in place of the DEQ. */
  deq: FixedPointOptions | false;
  /** Normalise the DEQ cell's weights (default: plain weights). */
  normalize?: NormalizationName;
  /** The spectral norm the cell's weights are scaled to with normalize 'spectral' (default 1). */
  spectralScale?: number;
}

/**
 * `deq train`'s defaults (the browser page trains with them too), chosen on the validation set (1,000 of the 8,000 bundled training digits, held out with a
 * fixed seed; 20 epochs, seed 0 unless said; `deq train --seed S [flag]`, reading the last epoch's
 * Val Error): Adam 2e-3 with cosine annealing, clipping at norm 2 and 1-pixel shifts gave 3.5%
 * (seed 1: 4.0%); Adam 4e-3 2.9% (seed 1: 3.4%), with lower validation loss and about half the
 * evaluation iterations (23 vs 35-50); 8e-3 3.2%; 1e-3 5.1%. Without the shifts the model memorises
 * the digits (0.4% train, 5.5% validation error; 12 epochs: 5.0%); 2-pixel shifts 3.3%; no clipping
 * 3.7%. The tutorial's SGD 0.1 → 0.01 (step schedule, 10 epochs, no shifts) 6.7%. The test set was
 * not looked at to choose any of these. These runs predate the performance work, which changed
 * Anderson's iterates in round-off; with it, seed 0's validation error at the defaults is 3.3%.
 */
export const TRAIN_DEFAULTS = {
  model: 'mlp' as ModelName,
  optimizer: 'adam' as OptimizerName,
  schedule: 'cosine' as ScheduleName,
  lr: { sgd: 0.1, adam: 4e-3 },
  clipNorm: { sgd: undefined, adam: 2 } as Record<OptimizerName, number | undefined>,
  epochs: 20,
  batch: 100,
  augment: 1,
  seed: 0,
  out: 'deq-run',
};
