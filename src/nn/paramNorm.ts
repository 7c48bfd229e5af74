/**
 * Normalised weights as parameter transforms over any params pytree: weight normalisation
 * (w = g · v / ‖v‖ per output unit) and spectral normalisation (W · scale / σ̂, σ̂ by power
 * iteration). Both take the plain params and a record keyed by the normalised leaves' paths (the
 * gains g, or the power-iteration vectors u) and return plain params, so a cell written for plain
 * weights runs unchanged on the normalised ones. Paths are those `treePaths` gives: 'cell.W',
 * 'cell.conv1.W', '0.W'.
 */
import type { DType } from '../core/dtype.js';
import { InputError, ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { treeFlatten, treePaths, treeUnflatten } from '../core/pytree.js';
import type { Rng } from '../core/random.js';
import { sizeOf, Tensor } from '../core/tensor.js';
import * as np from '../np.js';

/** Which weights to normalise: their paths, or a test on each tensor leaf and its path. */
export type LeafSelector = readonly string[] | ((path: string, leaf: Tensor) => boolean);

/** The selected tensor leaves of `params` with their paths; every listed path must exist. */
function selectLeaves(op: string, params: unknown, select: LeafSelector): { path: string; leaf: Tensor }[] {
  const [leaves, def] = treeFlatten(params);
  const paths = treePaths(def);
  const all = paths.flatMap((path, i) => (leaves[i] instanceof Tensor ? [{ path, leaf: leaves[i] as Tensor }] : []));
  if (typeof select === 'function') return all.filter(({ path, leaf }) => select(path, leaf));
  const missing = select.filter((p) => !all.some((l) => l.path === p));
  if (missing.length) {
    throw new InputError(`${op}: params have no tensor leaf at ${missing.map((p) => `'${p}'`).join(', ')}; the leaf paths are ${all.map((l) => `'${l.path}'`).join(', ')}`);
  }
  return all.filter((l) => select.includes(l.path));
}

/** `params` with the leaf at each path of `record` replaced by `replace(leaf, record[path], path)`. */
function rewriteLeaves<R>(op: string, params: unknown, record: Readonly<Record<string, R>>, replace: (leaf: Value, entry: R, path: string) => Value): unknown {
  const [leaves, def] = treeFlatten<Value>(params);
  const paths = treePaths(def);
  const unknown = Object.keys(record).filter((p) => !paths.includes(p));
  if (unknown.length) {
    throw new InputError(`${op}: no params leaf at ${unknown.map((p) => `'${p}'`).join(', ')}; pass the params the record was made from (paths like '${paths[0]}')`);
  }
  return treeUnflatten(def, leaves.map((leaf, i) => (paths[i]! in record ? replace(leaf, record[paths[i]!]!, paths[i]!) : leaf)));
}

// ---- weight normalisation ----------------------------------------------------------------------

/** Gains g of the weight-normalised leaves, keyed by path; each g has the weight's rank, 1 on the normalised axes. */
export type WeightNormGains<T = Value> = Record<string, T>;

export interface WeightNormInit {
  select: LeafSelector;
  /**
   * The output-unit axis, one gain per entry along it (default: 1 for rank-2 weights, which this
   * library stores [in, out]; 0 for conv weights [out, in, kh, kw]).
   */
  axis?: number;
}

const defaultUnitAxis = (rank: number): number => (rank === 2 ? 1 : 0);

/**
 * Gains for weight normalisation, g = ‖W‖ per output unit, so that `weightNorm(params, gains)`
 * starts out equal to `params`. Train both: `params` then holds the directions v.
 */
export function initWeightNorm(params: unknown, opts: WeightNormInit): WeightNormGains<Tensor> {
  const gains: WeightNormGains<Tensor> = {};
  for (const { path, leaf } of selectLeaves('initWeightNorm', params, opts.select)) {
    const s = leaf.shape;
    if (s.length < 2) throw new ShapeError(`initWeightNorm: '${path}' has shape [${s}]; weight normalisation needs a weight of rank ≥ 2 (leave biases out of select)`);
    const axis = opts.axis ?? defaultUnitAxis(s.length);
    if (!Number.isInteger(axis) || axis < 0 || axis >= s.length) throw new ShapeError(`initWeightNorm: axis ${axis} is not an axis of '${path}' [${s}]`);
    const units = s[axis]!;
    const inner = sizeOf(s.slice(axis + 1));
    const sq = new Float64Array(units);
    const d = leaf.data as Float64Array;
    for (let i = 0; i < d.length; i++) sq[Math.floor(i / inner) % units] += d[i]! ** 2;
    const g = new Tensor(leaf.dtype, s.map((n, i) => (i === axis ? n : 1)));
    (g.data as Float64Array).set(sq.map(Math.sqrt));
    gains[path] = g;
  }
  return gains;
}

/**
 * Weight normalisation: every leaf v at a path of `gains` becomes g · v / ‖v‖, the norm taken
 * over the axes where g has size 1 (so per output unit). Differentiable in both v and g.
 */
export function weightNorm<P>(params: P, gains: Readonly<WeightNormGains>): P {
  return rewriteLeaves('weightNorm', params, gains, (v, g, path) => {
    const vs = np.shape(v);
    const gs = np.shape(g);
    if (gs.length !== vs.length || gs.some((d, i) => d !== 1 && d !== vs[i])) {
      throw new ShapeError(`weightNorm: gain [${gs}] does not fit weight '${path}' [${vs}]; make the gains with initWeightNorm`);
    }
    const axes = gs.flatMap((d, i) => (d === 1 ? [i] : []));
    if (axes.length === 0) throw new ShapeError(`weightNorm: gain [${gs}] of '${path}' normalises over no axis; make the gains with initWeightNorm`);
    return np.mul(v, np.div(g, np.sqrt(np.sum(np.mul(v, v), axes, true))));
  }) as P;
}

// ---- spectral normalisation --------------------------------------------------------------------

/** Power-iteration vectors u, one per spectrally normalised leaf, keyed by path: [rows of the weight as a matrix]. */
export type SpectralNormState<T = Value> = Record<string, T>;

export interface SpectralNormInit {
  select: LeafSelector;
  dtype?: DType;
  /**
   * Power iterations run here, on the host, from the random start (default 0), so that σ̂ starts
   * at the largest singular value instead of below it and the first steps' weights keep their bound.
   */
  warmup?: number;
}

/** `steps` power iterations u ← M Mᵀ u / ‖M Mᵀ u‖ on M [rows, cols] (row-major), in float64. */
function powerIterate(M: ArrayLike<number>, rows: number, cols: number, u: Float64Array, steps: number): void {
  const v = new Float64Array(cols);
  const unit = (x: Float64Array) => {
    const n = Math.hypot(...x);
    if (n > 0) for (let i = 0; i < x.length; i++) x[i] = x[i]! / n;
  };
  for (let s = 0; s < steps; s++) {
    v.fill(0);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) v[j] += u[i]! * M[i * cols + j]!;
    unit(v);
    for (let i = 0; i < rows; i++) {
      let acc = 0;
      for (let j = 0; j < cols; j++) acc += M[i * cols + j]! * v[j]!;
      u[i] = acc;
    }
    unit(u);
  }
}

/**
 * Random unit vectors u for `spectralNorm`, one per selected weight. A weight W is taken as the
 * matrix reshape(W, [W.shape[0], −1]) (a conv weight [out, in·kh·kw], as PyTorch does).
 */
export function initSpectralNorm(rng: Rng, params: unknown, opts: SpectralNormInit): SpectralNormState<Tensor> {
  const state: SpectralNormState<Tensor> = {};
  for (const { path, leaf } of selectLeaves('initSpectralNorm', params, opts.select)) {
    if (leaf.rank < 2) throw new ShapeError(`initSpectralNorm: '${path}' has shape [${leaf.shape}]; spectral normalisation needs a weight of rank ≥ 2 (leave biases out of select)`);
    const rows = leaf.shape[0]!;
    const warmup = opts.warmup ?? 0;
    if (!Number.isInteger(warmup) || warmup < 0) throw new InputError(`initSpectralNorm: warmup must be a non-negative integer, got ${opts.warmup}`);
    const start = Float64Array.from(rng.randn([rows], 'float64').data as Float64Array);
    const n = Math.hypot(...start);
    for (let i = 0; i < rows; i++) start[i] = start[i]! / n;
    powerIterate(leaf.data as ArrayLike<number>, rows, leaf.size / rows, start, warmup);
    const u = new Tensor(opts.dtype ?? leaf.dtype, [rows]);
    (u.data as Float64Array).set(start);
    state[path] = u;
  }
  return state;
}

export interface SpectralNormOptions {
  /** Training mode runs power iteration and returns the updated u; eval mode uses u as it is. */
  train: boolean;
  /** Power iterations per call in training mode (default 1, as PyTorch). */
  iterations?: number;
  /** The spectral norm the normalised weight has once u has converged (default 1). */
  scale?: number;
  eps?: number;
}

const normalize = (x: Value, eps: number): Value => np.div(x, np.add(np.sqrt(np.sum(np.mul(x, x))), eps));

/**
 * Spectral normalisation: every leaf W at a path of `state` becomes W · scale / σ̂ with
 * σ̂ = ‖uᵀM‖ (M the weight as a matrix). In training mode u first takes `iterations` power-iteration
 * steps on M, without gradient, and comes back as the new state, like BatchNorm's running
 * statistics. The gradient flows through M in σ̂ with u held constant (PyTorch's rule). σ̂ never
 * exceeds the largest singular value σ₁ and rises to it as u converges, so a fresh u gives a
 * weight whose norm is briefly above `scale`; a warm-up call with many iterations avoids that.
 */
export function spectralNorm<P>(params: P, state: Readonly<SpectralNormState>, opts: SpectralNormOptions): { params: P; state: SpectralNormState; sigma: Record<string, Value> } {
  const iterations = opts.train ? opts.iterations ?? 1 : 0;
  if (!Number.isInteger(iterations) || iterations < 0) throw new InputError(`spectralNorm: iterations must be a non-negative integer, got ${opts.iterations}`);
  const scale = opts.scale ?? 1;
  const eps = opts.eps ?? 1e-12;
  const next: SpectralNormState = {};
  const sigma: Record<string, Value> = {};
  const out = rewriteLeaves('spectralNorm', params, state, (W, u0, path) => {
    const ws = np.shape(W);
    if (ws.length < 2 || np.shape(u0).length !== 1 || np.shape(u0)[0] !== ws[0]) {
      throw new ShapeError(`spectralNorm: u [${np.shape(u0)}] does not fit weight '${path}' [${ws}] (u needs [${ws[0]}]); make the state with initSpectralNorm`);
    }
    const M = np.reshape(W, [ws[0]!, -1]);
    const Mc = np.stopGradient(M);
    let u = np.reshape(np.stopGradient(u0), [1, ws[0]!]);
    for (let k = 0; k < iterations; k++) {
      const v = normalize(np.matmul(u, Mc), eps);
      u = normalize(np.matmul(v, np.mT(Mc)), eps);
    }
    next[path] = opts.train ? np.reshape(u, [ws[0]!]) : u0;
    const s = np.sqrt(np.sum(np.square(np.matmul(u, M))));
    sigma[path] = s;
    return np.mul(W, np.div(scale, s));
  }) as P;
  return { params: out, state: next, sigma };
}
