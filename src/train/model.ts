/** The model a run's settings describe: the named model with its solver settings, its cell's weights normalised when asked. */
import { makeModel, type Model, type ModelName } from '../nn/models.js';
import { normalizedModel } from '../nn/normalizedModel.js';
import type { FixedPointOptions } from '../solvers/index.js';
import { cellModelOf, type CellSource } from './cellSource.js';

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

export function buildModel(s: ModelSettings, data: { channels: number; size: number }, deq: FixedPointOptions | false = s.deq, cellBytes?: Uint8Array): Model {
  const model = s.model === 'cell' ? cellModelOf(s.cell, cellBytes, deq, data) : makeModel(s.model, deq, data);
  if (s.normalize === 'weight') return normalizedModel(model, { kind: 'weight' });
  if (s.normalize === 'spectral') return normalizedModel(model, { kind: 'spectral', scale: s.spectralScale ?? 1 });
  return model;
}
