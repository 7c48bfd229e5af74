/**
 * Broyden's method on g(z) = f(z) − z with a low-rank inverse-Jacobian estimate
 * B⁻¹ ≈ −I + Σ uᵢ vᵢᵀ kept as two [B, r, d] buffers (the oldest pair is overwritten): matmuls only.
 */
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import * as np from '../np.js';
import type { BatchMap, Solver } from './types.js';

export interface BroydenOptions {
  /** Rank of the inverse-Jacobian update buffer (default 30). */
  rank?: number;
}

export interface BroydenState {
  z: Value;
  gz: Value; // f(z) − z
  U: Value; // [B, r, d]
  V: Value; // [B, r, d]
  slot: Value; // [r] one-hot of the next slot to write
}

/**
 * B⁻¹ y = −y + Uᵀ (V y) per sample, as broadcast multiply + reduce: onnxruntime's batched MatMul
 * is slow for many tiny matrix-vector products.
 */
const applyInv = (U: Value, V: Value, y: Value): Value => {
  const c = np.sum(np.mul(V, np.expandDims(y, 1)), 2, true); // [B, r, 1]
  return np.sub(np.sum(np.mul(U, c), 1), y);
};
/** B⁻ᵀ y = −y + Vᵀ (U y). */
const applyInvT = (U: Value, V: Value, y: Value): Value => applyInv(V, U, y);
const dotRows = (a: Value, b: Value): Value => np.sum(np.mul(a, b), 1, true);

export function broyden(opts: BroydenOptions = {}): Solver<BroydenState> {
  const r = Math.max(1, opts.rank ?? 30);
  return {
    name: 'broyden',
    init: (f: BatchMap, z0) => {
      const [b, d] = np.shape(z0) as [number, number];
      const dt = np.dtype(z0);
      const slot = new Tensor(dt, [r]);
      (slot.data as Float64Array)[0] = 1;
      return { z: z0, gz: np.sub(f(z0), z0), U: np.zerosOf([b, r, d], dt), V: np.zerosOf([b, r, d], dt), slot };
    },
    step: (f, s) => {
      const dz = np.neg(applyInv(s.U, s.V, s.gz));
      const z1 = np.add(s.z, dz);
      const g1 = np.sub(f(z1), z1);
      const dg = np.sub(g1, s.gz);
      const vT = applyInvT(s.U, s.V, dz);
      const denom = dotRows(vT, dg);
      // keep the denominator away from zero without changing its sign
      const safe = np.where(np.greaterEqual(denom, 0), np.add(denom, 1e-30), np.sub(denom, 1e-30));
      const u = np.div(np.sub(dz, applyInv(s.U, s.V, dg)), safe);
      const sl = np.reshape(s.slot, [1, r, 1]);
      const keep = np.sub(1, sl);
      const r1 = r === 1 ? s.slot : np.concat([np.sliceAxis(s.slot, 0, r - 1, r), np.sliceAxis(s.slot, 0, 0, r - 1)], 0);
      return {
        z: z1,
        gz: g1,
        U: np.add(np.mul(s.U, keep), np.mul(np.expandDims(u, 1), sl)),
        V: np.add(np.mul(s.V, keep), np.mul(np.expandDims(vT, 1), sl)),
        slot: r1,
      };
    },
    estimate: (s) => ({ z: s.z, fz: np.add(s.z, s.gz) }),
  };
}
