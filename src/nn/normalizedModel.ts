/**
 * A model whose DEQ cell runs on normalised weights. Every float leaf of rank ≥ 2 under
 * `params.cell` is reparameterised: the tanh cell's W, the ResNet cell's two convolutions, an
 * imported cell's matrices (its biases and norms' affine vectors are rank 1 and stay as they are).
 *
 *   weight:   the gains g are trained params beside the directions, under `params.weightNormGains`
 *   spectral: the power-iteration vectors u are model state under `state.spectralNorm`, updated in
 *             training mode and fixed in eval mode (as BatchNorm's running statistics), so they are
 *             checkpointed with the rest and a resumed run continues exactly
 *
 * Both normalise before the DEQ layer, so the solve runs on plain weights and its implicit gradient
 * flows through the normalisation to the directions, gains and scale.
 */
import { isFloat } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Model } from './models.js';
import { initSpectralNorm, initWeightNorm, type LeafSelector, spectralNorm, type SpectralNormState, weightNorm, type WeightNormGains } from './paramNorm.js';

export type Normalization =
  | { kind: 'weight' }
  | {
    kind: 'spectral';
    /** The spectral norm of each normalised weight (default 1). */
    scale?: number;
    /** Power iterations per training step (default 1). */
    iterations?: number;
    /** Power iterations at initialisation, on the host (default 50): the bound holds from the first step. */
    warmup?: number;
  };

export const WEIGHT_NORM_KEY = 'weightNormGains';
export const SPECTRAL_NORM_KEY = 'spectralNorm';

/** The DEQ cell's matrices: float leaves of rank ≥ 2 under params.cell. */
export const cellMatrices: LeafSelector = (path: string, leaf: Tensor) => path.startsWith('cell.') && leaf.rank >= 2 && isFloat(leaf.dtype);

type Tree = Record<string, unknown>;

const asRecord = (what: string, name: string, key: string, t: unknown): Tree => {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new InputError(`normalizedModel: model ${name}'s ${what} are not an object, so there is no place for '${key}'`);
  if (key in t) throw new InputError(`normalizedModel: model ${name}'s ${what} already have a '${key}' entry`);
  return t as Tree;
};

function selected(name: string, paths: readonly string[]): void {
  if (paths.length === 0) throw new InputError(`normalizedModel: model ${name} has no float weight of rank ≥ 2 under params.cell to normalise`);
}

/** `model` with its DEQ cell's weights (or those `select` picks) normalised as `norm` says. */
export function normalizedModel(model: Model, norm: Normalization, select: LeafSelector = cellMatrices): Model {
  if (norm.kind === 'weight') {
    const split = (p: Tree) => {
      const { [WEIGHT_NORM_KEY]: gains, ...rest } = p;
      return weightNorm(rest, gains as WeightNormGains);
    };
    return {
      name: model.name,
      deq: model.deq,
      init: (rng) => {
        const { params, state } = model.init(rng);
        const gains = initWeightNorm(params, { select });
        selected(model.name, Object.keys(gains));
        return { params: { ...asRecord('params', model.name, WEIGHT_NORM_KEY, params), [WEIGHT_NORM_KEY]: gains }, state };
      },
      apply: (p, s, x, o) => model.apply(split(p), s, x, o),
      ...(model.deqParts ? { deqParts: (p: Tree, s: unknown, x) => model.deqParts!(split(p), s, x) } : {}),
    };
  }
  const opts = { scale: norm.scale ?? 1, iterations: norm.iterations ?? 1 };
  const run = (p: unknown, s: Tree, train: boolean) => {
    const { [SPECTRAL_NORM_KEY]: u, ...inner } = s;
    const sn = spectralNorm(p, u as SpectralNormState, { ...opts, train });
    return { params: sn.params, inner, u: sn.state };
  };
  return {
    name: model.name,
    deq: model.deq,
    init: (rng) => {
      const { params, state } = model.init(rng);
      const u = initSpectralNorm(rng, params, { select, warmup: norm.warmup ?? 50 });
      selected(model.name, Object.keys(u));
      return { params, state: { ...asRecord('state', model.name, SPECTRAL_NORM_KEY, state), [SPECTRAL_NORM_KEY]: u } };
    },
    apply: (p, s, x, o) => {
      const r = run(p, s, o.train);
      const out = model.apply(r.params, r.inner, x, o);
      return { ...out, state: { ...(out.state as Tree), [SPECTRAL_NORM_KEY]: r.u } };
    },
    ...(model.deqParts ? { deqParts: (p: unknown, s: Tree, x) => { const r = run(p, s, false); return model.deqParts!(r.params, r.inner, x); } } : {}),
  };
}
