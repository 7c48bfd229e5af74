/**
 * Optimizers as pure functions over pytrees: update(params, grads, state, lr) returns new params
 * and state and never mutates its inputs. They run as host loops over the flat typed arrays: for
 * the models here that costs well under a millisecond a step, less than one more session.run
 * (bench/train.ts measures both).
 */
import { InputError } from '../core/errors.js';
import { treeFlatten, treeMap, treeUnflatten } from '../core/pytree.js';
import { allFinite, Tensor } from '../core/tensor.js';

export type Params = unknown;

export interface Optimizer<S = unknown> {
  readonly name: string;
  init(params: Params): S;
  update(params: Params, grads: Params, state: S, lr: number): { params: Params; state: S };
}

type Floats = Float32Array | Float64Array;

const leavesOf = (tree: Params, what: string): Tensor[] => {
  const [leaves] = treeFlatten<unknown>(tree);
  return leaves.map((l, i) => {
    if (!(l instanceof Tensor) || (l.dtype !== 'float32' && l.dtype !== 'float64')) {
      throw new InputError(`optimizer: ${what} leaf ${i} is not a float tensor; params and grads must be pytrees of float tensors`);
    }
    return l;
  });
};

/** Leaves of params and grads, checked to pair up. */
function paired(params: Params, grads: Params): { def: ReturnType<typeof treeFlatten>[1]; ps: Tensor[]; gs: Tensor[] } {
  const [, def] = treeFlatten(params);
  const ps = leavesOf(params, 'params');
  const gs = leavesOf(grads, 'grads');
  if (ps.length !== gs.length) throw new InputError(`optimizer: ${ps.length} params but ${gs.length} grads; pass grads with the params' structure`);
  ps.forEach((p, i) => {
    if (p.size !== gs[i]!.size) throw new InputError(`optimizer: param ${i} [${p.shape}] and its grad [${gs[i]!.shape}] differ in shape`);
  });
  return { def, ps, gs };
}

const like = (t: Tensor): Tensor => new Tensor(t.dtype, t.shape);
const zerosTree = (params: Params): Params => treeMap(like, params);

export interface SgdOptions { momentum?: number; weightDecay?: number }
export interface SgdState { velocity: Params | null }

/** SGD as in PyTorch: v ← μ v + (g + λ p); p ← p − lr v (plain g + λ p without momentum). */
export function sgd(opts: SgdOptions = {}): Optimizer<SgdState> {
  const mu = opts.momentum ?? 0;
  const wd = opts.weightDecay ?? 0;
  return {
    name: mu ? `sgd(momentum=${mu})` : 'sgd',
    init: (params) => ({ velocity: mu ? zerosTree(params) : null }),
    update(params, grads, state, lr) {
      const { def, ps, gs } = paired(params, grads);
      const vs = state.velocity ? leavesOf(state.velocity, 'velocity') : null;
      const newP: Tensor[] = [];
      const newV: Tensor[] = [];
      ps.forEach((p, i) => {
        const out = like(p);
        const o = out.data as Floats, pd = p.data as Floats, gd = gs[i]!.data as Floats;
        if (vs) {
          const v = like(p);
          const vd = v.data as Floats, vprev = vs[i]!.data as Floats;
          for (let k = 0; k < o.length; k++) {
            vd[k] = mu * vprev[k]! + gd[k]! + wd * pd[k]!;
            o[k] = pd[k]! - lr * vd[k]!;
          }
          newV.push(v);
        } else {
          for (let k = 0; k < o.length; k++) o[k] = pd[k]! - lr * (gd[k]! + wd * pd[k]!);
        }
        newP.push(out);
      });
      return { params: treeUnflatten(def, newP), state: { velocity: vs ? treeUnflatten(def, newV) : null } };
    },
  };
}

export interface AdamOptions { beta1?: number; beta2?: number; eps?: number; /** decoupled (AdamW) */ weightDecay?: number }
export interface AdamState { step: number; m: Params; v: Params }

/** Adam (AdamW when weightDecay > 0), with PyTorch's bias correction and eps placement. */
export function adam(opts: AdamOptions = {}): Optimizer<AdamState> {
  const b1 = opts.beta1 ?? 0.9;
  const b2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0;
  return {
    name: wd ? 'adamw' : 'adam',
    init: (params) => ({ step: 0, m: zerosTree(params), v: zerosTree(params) }),
    update(params, grads, state, lr) {
      const { def, ps, gs } = paired(params, grads);
      const ms = leavesOf(state.m, 'm');
      const vs = leavesOf(state.v, 'v');
      const t = state.step + 1;
      const c1 = 1 - b1 ** t;
      const c2 = 1 - b2 ** t;
      const newP: Tensor[] = [], newM: Tensor[] = [], newV: Tensor[] = [];
      ps.forEach((p, i) => {
        const out = like(p), m = like(p), v = like(p);
        const o = out.data as Floats, md = m.data as Floats, vd = v.data as Floats;
        const pd = p.data as Floats, gd = gs[i]!.data as Floats, m0 = ms[i]!.data as Floats, v0 = vs[i]!.data as Floats;
        for (let k = 0; k < o.length; k++) {
          const g = gd[k]!;
          md[k] = b1 * m0[k]! + (1 - b1) * g;
          vd[k] = b2 * v0[k]! + (1 - b2) * g * g;
          const decayed = pd[k]! * (1 - lr * wd);
          o[k] = decayed - (lr * (md[k]! / c1)) / (Math.sqrt(vd[k]! / c2) + eps);
        }
        newP.push(out); newM.push(m); newV.push(v);
      });
      return { params: treeUnflatten(def, newP), state: { step: t, m: treeUnflatten(def, newM), v: treeUnflatten(def, newV) } };
    },
  };
}

/** True when every float leaf of the tree is finite. */
export const treeAllFinite = (tree: unknown): boolean =>
  treeFlatten<unknown>(tree)[0].every((l) => !(l instanceof Tensor) || allFinite(l));

/** Learning rate as a function of the global step and the epoch. */
export type Schedule = (step: number, epoch: number) => number;

export const constantLr = (lr: number): Schedule => () => lr;

/** Multiply by gamma at each milestone epoch (the tutorial: 0.1 → 0.01 at epoch 5). */
export const stepLr = (lr: number, milestones: readonly number[], gamma = 0.1): Schedule =>
  (_step, epoch) => lr * gamma ** milestones.filter((m) => epoch >= m).length;

/** PyTorch's CosineAnnealingLR over totalSteps steps, from lr down to etaMin. */
export const cosineLr = (lr: number, totalSteps: number, etaMin = 1e-6): Schedule =>
  (step) => etaMin + ((lr - etaMin) * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps))) / 2;

/** Global L2 norm of a pytree of float tensors. */
export function treeNorm(tree: unknown): number {
  let s = 0;
  for (const l of treeFlatten<unknown>(tree)[0]) {
    if (!(l instanceof Tensor)) continue;
    const d = l.data as Floats;
    for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
  }
  return Math.sqrt(s);
}

/** Scale grads so that their global norm is at most maxNorm (PyTorch's clip_grad_norm_). */
export function clipByGlobalNorm(grads: unknown, maxNorm: number): { grads: unknown; norm: number } {
  const norm = treeNorm(grads);
  if (!(norm > maxNorm)) return { grads, norm };
  const k = maxNorm / (norm + 1e-6);
  return { grads: treeMap((t: Tensor) => new Tensor(t.dtype, t.shape, (t.data as Floats).map((v) => v * k)), grads), norm };
}
