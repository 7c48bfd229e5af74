/**
 * Anderson acceleration (the tutorial's `anderson`), batched, with a history of the last m images
 * F and residuals G = F − X. The history is a ring buffer (the mixing weights do not depend on slot
 * order): a step writes one slot with a Where, one pass over each buffer and no copy of the rest as
 * a slice-and-concat window would make, which matters when the buffers are large (the conv DEQ's
 * are 24 MB each). Slots not yet filled hold zeros and are masked out through the
 * right-hand side of the small system, whose weights come from one batched inverse (onnxruntime's
 * Inverse where it has it, an unrolled elimination elsewhere) and one product; λ regularises it
 * where the history is nearly collinear.
 */
import type { Value } from '../core/primitive.js';
import { eye, Tensor } from '../core/tensor.js';
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
  F: Value; // [B, m, d] images f(x) of the last m iterates, in ring order
  G: Value; // [B, m, d] residuals f(x) − x
  valid: Value; // [1, m] 1 where the slot holds history
  slot: Value; // [1, m] one-hot: the slot the next step writes
  z: Value; // [B, d] latest iterate
  fz: Value; // [B, d] its image
  g: Value; // [B, d] its residual fz − z
}

/** Write `row` ([B, d]) into the slot where `at` ([1, m, 1] bool) is true. */
const write = (buf: Value, at: Value, row: Value): Value => np.where(at, np.expandDims(row, 1), buf);

/** [m, m] with P[i, (i + 1) mod m] = 1: a row one-hot times P moves to the next slot. */
function nextSlot(m: number, dt: Tensor['dtype']): Tensor {
  const P = new Tensor(dt, [m, m]);
  for (let i = 0; i < m; i++) (P.data as Float64Array)[i * m + ((i + 1) % m)] = 1;
  return P;
}

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
      const g1 = np.sub(f1, f0);
      const zeros = np.zerosOf([b, m - 2, d], dt);
      const valid = new Tensor(dt, [1, m]);
      (valid.data as Float64Array).fill(1, 0, 2);
      const slot = new Tensor(dt, [1, m]);
      (slot.data as Float64Array)[2 % m] = 1;
      return {
        F: np.concat([np.expandDims(f0, 1), np.expandDims(f1, 1), zeros], 1),
        G: np.concat([np.expandDims(np.sub(f0, z0), 1), np.expandDims(g1, 1), zeros], 1),
        valid,
        slot,
        z: f0,
        fz: f1,
        g: g1,
      };
    },
    step: (f, s) => {
      const dt = np.dtype(s.F);
      const [b] = np.shape(s.F) as [number];
      const ggT = np.matmul(s.G, np.mT(s.G)); // [B, m, m]
      // λ is relative to the largest squared residual in the history (the largest entry of GGᵀ is
      // on its diagonal, by Cauchy–Schwarz), so the regularisation neither swamps tiny residuals
      // near convergence nor vanishes for large ones. Dividing by that scale instead of multiplying
      // λ by it leaves α unchanged and λI a constant.
      const scale = np.add(np.max(ggT, [1, 2], true), dt === 'float64' ? 1e-300 : 1e-30); // [B, 1, 1]
      let gram = np.add(np.div(ggT, scale), eye(m, dt, lam));
      // unfilled slots are zero rows of G, so they do not couple to the rest; with λ > 0 their
      // diagonal is λ, and only λ = 0 needs a 1 there to keep the system regular
      if (lam === 0) gram = np.add(gram, np.mul(eye(m, dt), np.sub(1, s.valid)));
      // Σα = 1 with α minimising ‖Gᵀα‖² + λ‖α‖²: α = y / Σy where (GGᵀ/s + λI) y = v, v the validity
      // mask, so unfilled slots (decoupled) get y = 0 exactly. The system is SPD with condition
      // number at most about 1/λ, so its inverse is accurate in float32; yᵀ = vᵀ A⁻¹ (A symmetric)
      // comes out as a row, ready to mix with.
      const yRow = np.matmul(s.valid, np.inv(gram, { spd: true })); // [1, m] · [B, m, m] → [B, 1, m]
      const alpha = np.div(yRow, np.sum(yRow, 2, true)); // [B, 1, m]
      const mix = (buf: Value) => np.reshape(np.matmul(alpha, buf), [b, -1]);
      const fMix = mix(s.F);
      // β αF + (1 − β) αX = αF − (1 − β) αG
      const xNew = beta === 1 ? fMix : np.sub(fMix, np.mul(mix(s.G), 1 - beta));
      const fNew = f(xNew);
      const gNew = np.sub(fNew, xNew);
      const at = np.astype(np.reshape(s.slot, [1, m, 1]), 'bool');
      return {
        F: write(s.F, at, fNew),
        G: write(s.G, at, gNew),
        valid: np.maximum(s.valid, s.slot),
        slot: np.matmul(s.slot, nextSlot(m, dt)),
        z: xNew,
        fz: fNew,
        g: gNew,
      };
    },
    estimate: (s) => ({ z: s.z, fz: s.fz, g: s.g }),
  };
}
