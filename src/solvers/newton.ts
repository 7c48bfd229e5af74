/**
 * Newton's method on g(z) = z − f(z): z ← z − (I − J)⁻¹ (z − f(z)).
 * `newton()` builds the dense Jacobian from the d Jacobian-vector products of the basis vectors,
 * all at once (one vmapped JVP: a few large kernels rather than d small ones), for small cells as
 * the tutorial's TanhNewtonLayer, and solves with the dense `solve`; `newtonKrylov()` solves the
 * Newton system by GMRES on JVPs only.
 */
import type { Value } from '../core/primitive.js';
import { eye } from '../core/tensor.js';
import { InputError } from '../core/errors.js';
import { vmap } from '../transforms/vmap.js';
import { gmresCycle } from './krylov.js';
import { linearizeMap } from './linearize.js';
import * as np from '../np.js';
import type { BatchMap, Solver } from './types.js';

export interface NewtonState { z: Value; fz: Value }

/** Largest width for which the dense Jacobian is built. */
export const DENSE_NEWTON_MAX_WIDTH = 512;

export function newton(): Solver<NewtonState> {
  return {
    name: 'newton',
    init: (f: BatchMap, z0) => ({ z: z0, fz: f(z0) }),
    step: (f, s) => {
      const [b, d] = np.shape(s.z) as [number, number];
      if (d > DENSE_NEWTON_MAX_WIDTH) {
        throw new InputError(`newton: width ${d} is too large for a dense Jacobian (max ${DENSE_NEWTON_MAX_WIDTH}); use newtonKrylov()`);
      }
      const dt = np.dtype(s.z);
      const lin = linearizeMap(f, s.z);
      // basis[i] = e_i for every sample; J[:, :, i] = J e_i
      const basis = np.broadcastTo(np.reshape(eye(d, dt), [d, 1, d]), [d, b, d]);
      const J = vmap((v: Value) => lin.jvp(v), { outAxes: 2 })(basis) as Value; // [B, d, d]
      const z1 = np.sub(s.z, np.solve(np.sub(eye(d, dt), J), np.sub(s.z, lin.fz)));
      return { z: z1, fz: f(z1) };
    },
    estimate: (s) => s,
  };
}

export interface NewtonKrylovOptions {
  /** Krylov steps per Newton step (default 20). */
  krylovSteps?: number;
}

export function newtonKrylov(opts: NewtonKrylovOptions = {}): Solver<NewtonState> {
  const k = opts.krylovSteps ?? 20;
  return {
    name: 'newtonKrylov',
    init: (f: BatchMap, z0) => ({ z: z0, fz: f(z0) }),
    step: (f, s) => {
      const lin = linearizeMap(f, s.z);
      const [, d] = np.shape(s.z) as [number, number];
      const g = np.sub(s.z, lin.fz);
      const dz = gmresCycle((v) => np.sub(v, lin.jvp(v)), g, np.zerosLike(g), Math.min(k, d));
      const z1 = np.sub(s.z, dz);
      return { z: z1, fz: f(z1) };
    },
    estimate: (s) => s,
  };
}

/**
 * GMRES(k) restarted, for an affine map f(w) = A w + c: solves w = f(w), i.e. (I − A) w = c.
 * Only valid for affine maps (the backward linear solve of an implicit layer).
 */
export function gmres(opts: { restart?: number } = {}): Solver<{ w: Value; fw: Value; c: Value }> {
  const k = opts.restart ?? 20;
  return {
    name: 'gmres',
    init: (f, w0) => ({ w: w0, fw: f(w0), c: f(np.zerosLike(w0)) }),
    step: (f, s) => {
      const [, d] = np.shape(s.w) as [number, number];
      // (I − A) v = v − (f(v) − c)
      const w1 = gmresCycle((v) => np.sub(v, np.sub(f(v), s.c)), s.c, s.w, Math.min(k, d));
      return { w: w1, fw: f(w1), c: s.c };
    },
    estimate: (s) => ({ z: s.w, fz: s.fw }),
  };
}
