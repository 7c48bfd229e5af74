/** Plain fixed-point iteration z ← f(z) (Neumann iteration when f is affine). */
import type { Value } from '../core/primitive.js';
import type { BatchMap, Solver } from './types.js';

export interface ForwardState { z: Value; fz: Value }

export const forwardIteration = (): Solver<ForwardState> => ({
  name: 'forward',
  init: (f, z0) => ({ z: z0, fz: f(z0) }),
  step: (f: BatchMap, s) => ({ z: s.fz, fz: f(s.fz) }),
  estimate: (s) => s,
});
