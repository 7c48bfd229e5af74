/** The model a run's settings describe: the named model with its solver settings, its cell's weights normalised when asked. */
import { makeModel, type Model } from '../nn/models.js';
import { normalizedModel } from '../nn/normalizedModel.js';
import type { FixedPointOptions } from '../solvers/index.js';
import { type CellFile, cellModelOf } from './cellSource.js';
import type { ModelSettings } from './settings.js';

export { normalizationNames, type ModelSettings, type NormalizationName } from './settings.js';

/** `cell`: a cell run's file, as bytes or as already read (cellSourceOf). */
export function buildModel(s: ModelSettings, data: { channels: number; size: number }, deq: FixedPointOptions | false = s.deq, cell?: Uint8Array | CellFile): Model {
  const model = s.model === 'cell' ? cellModelOf(s.cell, cell, deq, data) : makeModel(s.model, deq, data);
  if (s.normalize === 'weight') return normalizedModel(model, { kind: 'weight' });
  if (s.normalize === 'spectral') return normalizedModel(model, { kind: 'spectral', scale: s.spectralScale ?? 1 });
  return model;
}
