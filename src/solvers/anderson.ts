/**
 * Anderson acceleration (the tutorial's `anderson`), batched, with a history of the last m images
 * F and residuals G = F − X. The history is a fixed-size window that shifts by one slot per step
 * (the mixing weights do not depend on slot order), so a step is a slice and a concat rather than a
 * rewrite of the whole buffer. Slots not yet filled are masked out of the small system, which is
 * solved with the `solve` primitive; λ regularises it where the history is nearly collinear.
 */
import type { Value } from '../core/primitive.js';
import { eye, ones, Tensor } from '../core/tensor.js';
import * as np from '../np.js';
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
  F: Value; // [B, m, d] images f(x) of the last m iterates (oldest first)
  G: Value; // [B, m, d] residuals f(x) − x
  valid: Value; // [m] 1 where the slot holds history
  z: Value; // [B, d] latest iterate
  fz: Value; // [B, d] its image
}

/** Drop the oldest slot and append `row` ([B, d]) as the newest. */
const push = (buf: Value, row: Value): Value => {
  const m = np.shape(buf)[1]!;
  return np.concat([np.sliceAxis(buf, 1, 1, m), np.expandDims(row, 1)], 1);
};

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
      const zeros = np.zerosOf([b, m - 2, d], dt);
      const valid = new Tensor(dt, [m]);
      (valid.data as Float64Array).fill(1, m - 2);
      return {
        F: np.concat([zeros, np.expandDims(f0, 1), np.expandDims(f1, 1)], 1),
        G: np.concat([zeros, np.expandDims(np.sub(f0, z0), 1), np.expandDims(np.sub(f1, f0), 1)], 1),
        valid,
        z: f0,
        fz: f1,
      };
    },
    step: (f, s) => {
      const dt = np.dtype(s.F);
      const [b] = np.shape(s.F) as [number];
      const v = s.valid;
      const I = eye(m, dt);
      const lamEye = eye(m, dt, lam);
      const ggT = np.matmul(s.G, np.mT(s.G)); // [B, m, m]
      // λ is relative to the largest squared residual in the history, so the regularisation
      // neither swamps tiny residuals near convergence nor vanishes for large ones
      const scale = np.add(np.max(np.sum(np.mul(ggT, I), 2), 1, true), dt === 'float64' ? 1e-300 : 1e-30); // [B, 1]
      // unfilled slots hold zero rows of G, so they do not couple to the rest; a 1 on their
      // diagonal keeps the system regular
      const gram = np.add(ggT, np.add(np.mul(np.expandDims(scale, 2), lamEye), np.mul(I, np.sub(1, v))));
      // Σα = 1 with α minimising ‖Gᵀα‖² + λ‖α‖²: α = y / Σy where (GGᵀ + λI) y = 1 (an SPD system,
      // solved without pivoting); unfilled slots are then zeroed
      const y = np.solve(gram, np.fill([b, m, 1], 1, dt), { spd: true }); // [B, m, 1]
      const yv = np.mul(np.reshape(y, [b, 1, m]), np.reshape(v, [1, 1, m]));
      const alpha = np.div(yv, np.sum(yv, 2, true)); // [B, 1, m]
      const mix = (buf: Value) => np.squeeze(np.matmul(alpha, buf), [1]);
      const fMix = mix(s.F);
      // β αF + (1 − β) αX = αF − (1 − β) αG
      const xNew = beta === 1 ? fMix : np.sub(fMix, np.mul(mix(s.G), 1 - beta));
      const fNew = f(xNew);
      return {
        F: push(s.F, fNew),
        G: push(s.G, np.sub(fNew, xNew)),
        valid: np.concat([np.sliceAxis(v, 0, 1, m), ones([1], dt)], 0),
        z: xNew,
        fz: fNew,
      };
    },
    estimate: (s) => ({ z: s.z, fz: s.fz }),
  };
}
