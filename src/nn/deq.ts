/** A DEQ layer: the fixed point z* = cell(z*, x, params), with the solver options the caller picked. */
import type { Value } from '../core/primitive.js';
import * as np from '../ops/np.js';
import { fixedPoint } from '../solvers/index.js';

export type SolverName = 'forward' | 'anderson' | 'broyden' | 'newton' | 'newtonKrylov';
export type BackwardMode = 'implicit' | 'jfb' | 'unrolled' | { phantom: number };

export interface DeqOptions {
  solver: SolverName;
  tol: number;
  maxIter: number;
  backward: BackwardMode;
  backwardTol?: number;
  backwardMaxIter?: number;
}

/** Per-solve statistics as traced scalars. */
export interface SolveStats {
  iterations: Value;
  residual: Value;
  relResidual: Value;
  converged: Value;
}

export type Cell<P> = (z: Value, x: Value, params: P) => Value;

/**
 * Solve for the fixed point starting from zeros. `solve: false` applies the cell once from z = 0
 * instead (a plain explicit layer), which is useful as a baseline and for checks without a solver.
 */
export function deqLayer<P>(cell: Cell<P>, x: Value, params: P, opts: DeqOptions | false): { value: Value; stats: SolveStats | null } {
  const z0 = np.zerosLike(x);
  if (opts === false) return { value: cell(z0, x, params), stats: null };
  const { value, stats } = fixedPoint(cell as never, z0, [x, params], opts as never) as { value: Value; stats: SolveStats };
  return { value, stats };
}
