/**
 * The model settings of a run, as data (model.ts builds the model they describe; it reads cell
 * files' hashes, so it stays with the file system, while these travel to the browser's loop).
 */
import type { ModelName } from '../nn/models.js';
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
