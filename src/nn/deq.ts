/** A DEQ layer: the fixed point z* = cell(z*, x, params), with the solver options the caller picked. */
import type { Value } from '../core/primitive.js';
import * as np from '../np.js';
import { fixedPoint, type FixedPointOptions, type SolveStats } from '../solvers/index.js';

export type Cell<P> = (z: Value, x: Value, params: P) => Value;

/**
 * Solve for the fixed point starting from zeros. `false` in place of the options applies the cell
 * once from z = 0 instead (a plain explicit layer), a baseline and a check without a solver.
 */
export function deqLayer<P>(cell: Cell<P>, x: Value, params: P, opts: FixedPointOptions | false): { value: Value; stats: SolveStats | null } {
  const z0 = np.zerosLike(x);
  if (opts === false) return { value: cell(z0, x, params), stats: null };
  return fixedPoint(cell, z0, [x, params], opts);
}
