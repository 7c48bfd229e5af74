/**
 * Anderson acceleration (the tutorial's `anderson`), batched, with a fixed-size history of m
 * iterates. Unfilled history slots are masked out of the small bordered system so its size never
 * changes; the system is solved with the pivoting `solve` primitive, and λ regularises it where
 * the history is nearly collinear.
 */
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import { np } from './np.js';
import type { BatchMap, Solver } from './types.js';

export interface AndersonOptions {
  /** History size (default 5). */
  m?: number;
  /** Tikhonov regularisation of the Gram matrix, relative to its largest diagonal entry (default 1e-4). */
  lam?: number;
  /** Mixing: 1 takes f's images, < 1 damps toward the iterates, > 1 overrelaxes (default 1). */
  beta?: number;
}

export interface AndersonState {
  X: Value; // [B, m, d] iterates
  F: Value; // [B, m, d] their images
  slot: Value; // [m] one-hot: the most recently written slot
  valid: Value; // [m] 1 where the slot holds history
}

const oneHot = (m: number, i: number, dtype: Tensor['dtype']) => {
  const t = new Tensor(dtype, [m]);
  (t.data as Float64Array)[i] = 1;
  return t;
};

/** Write row [B, d] into the slot marked by the one-hot [m] of a [B, m, d] buffer. */
const writeSlot = (buf: Value, slot: Value, row: Value): Value => {
  const s = np.reshape(slot, [1, -1, 1]);
  return np.add(np.mul(buf, np.sub(1, s)), np.mul(np.expandDims(row, 1), s));
};
/** Read the slot marked by the one-hot [m] from a [B, m, d] buffer. */
const readSlot = (buf: Value, slot: Value): Value => np.squeeze(np.matmul(np.reshape(slot, [1, 1, -1]), buf), [1]);
/** Rotate a one-hot to the next slot. */
const nextSlot = (slot: Value, m: number): Value => (m === 1 ? slot : np.concat([np.sliceAxis(slot, 0, m - 1, m), np.sliceAxis(slot, 0, 0, m - 1)], 0));

export function anderson(opts: AndersonOptions = {}): Solver<AndersonState> {
  const m = Math.max(2, opts.m ?? 5);
  const lam = opts.lam ?? 1e-4;
  const beta = opts.beta ?? 1;
  return {
    name: 'anderson',
    init: (f: BatchMap, z0) => {
      const [b, d] = np.shape(z0) as [number, number];
      const dt = np.dtype(z0);
      const f0 = f(z0);
      const f1 = f(f0);
      const zeros = np.zerosOf([b, m, d], dt);
      const s0 = oneHot(m, 0, dt);
      const s1 = oneHot(m, 1, dt);
      return {
        X: writeSlot(writeSlot(zeros, s0, z0), s1, f0),
        F: writeSlot(writeSlot(zeros, s0, f0), s1, f1),
        slot: s1,
        valid: np.add(s0, s1),
      };
    },
    step: (f, s) => {
      const dt = np.dtype(s.X);
      const [b] = np.shape(s.X) as [number];
      const G = np.sub(s.F, s.X); // [B, m, d]
      const v = s.valid;
      const vv = np.mul(np.reshape(v, [m, 1]), np.reshape(v, [1, m]));
      const eye = new Tensor(dt, [m, m]);
      for (let i = 0; i < m; i++) (eye.data as Float64Array)[i * m + i] = 1;
      // masked Gram block: valid×valid entries + λI; invalid slots get a 1 on the diagonal so α = 0 there
      // λ is relative to the largest squared residual in the history, so the regularisation
      // neither swamps tiny residuals near convergence nor vanishes for large ones
      const scale = np.add(np.max(np.sum(np.mul(G, G), 2), 1, true), dt === 'float64' ? 1e-300 : 1e-30); // [B, 1]
      const reg = np.mul(eye, np.mul(np.expandDims(scale, 2), lam));
      const gram = np.add(np.mul(np.add(np.matmul(G, np.mT(G)), reg), vv), np.mul(eye, np.sub(1, v)));
      // Σα = 1 with α minimising ‖Gᵀα‖² + λ‖α‖²: α = y / Σy where (GGᵀ + λI) y = 1 (an SPD system,
      // solved without pivoting); masked slots get y = 1 and are then zeroed
      const y = np.solve(gram, np.fill([b, m, 1], 1, dt), { spd: true }); // [B, m, 1]
      const yv = np.mul(np.reshape(y, [b, 1, m]), np.reshape(v, [1, 1, m]));
      const alpha = np.div(yv, np.sum(yv, 2, true)); // [B, 1, m]
      const fMix = np.squeeze(np.matmul(alpha, s.F), [1]);
      const xNew = beta === 1 ? fMix : np.add(np.mul(fMix, beta), np.mul(np.squeeze(np.matmul(alpha, s.X), [1]), 1 - beta));
      const fNew = f(xNew);
      const slot = nextSlot(s.slot, m);
      return { X: writeSlot(s.X, slot, xNew), F: writeSlot(s.F, slot, fNew), slot, valid: np.maximum(s.valid, slot) };
    },
    estimate: (s) => ({ z: readSlot(s.X, s.slot), fz: readSlot(s.F, s.slot) }),
  };
}
