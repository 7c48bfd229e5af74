import type { Value } from '../core/primitive.js';

/** The map being solved, on flattened batches: z [B, d] ↦ f(z) [B, d]. */
export type BatchMap = (z: Value) => Value;

/**
 * A solver is a pair of pure functions over a fixed-shape state (a pytree of values), written
 * with np ops, so the same solver runs inside one compiled whileLoop or as a host loop.
 */
export interface Solver<S = any> {
  readonly name: string;
  init(f: BatchMap, z0: Value): S;
  step(f: BatchMap, state: S): S;
  /** The current estimate and its image under f (the residual is f(z) − z). */
  estimate(state: S): { z: Value; fz: Value };
}

export type StopOn = 'abs' | 'rel';

export interface SolveOptions {
  /** Tolerance on the residual chosen by `stopOn` (default 1e-4). */
  tol?: number;
  /** Iteration limit (default 50). */
  maxIter?: number;
  /** Stop on the absolute residual ‖f(z) − z‖ or the relative ‖f(z) − z‖ / (1e-5 + ‖f(z)‖) (default 'rel'), per sample. */
  stopOn?: StopOn;
  /** Record the residual after every iteration (the tutorial's semilog plots). */
  trace?: boolean;
  /** A residual this many times the first one counts as divergence (default 1e6). */
  divergenceFactor?: number;
}

/** Solve statistics as traced values (scalars over the batch; `trace` is [maxIter], zero-padded). */
export interface SolveStats {
  iterations: Value;
  /** Largest per-sample absolute residual of the kept (lowest-residual) iterate. */
  residual: Value;
  /** Largest per-sample relative residual of the kept iterate. */
  relResidual: Value;
  converged: Value;
  diverged: Value;
  trace?: Value;
}

export const solveDefaults = (o: SolveOptions): Required<SolveOptions> => ({
  tol: o.tol ?? 1e-4,
  maxIter: o.maxIter ?? 50,
  stopOn: o.stopOn ?? 'rel',
  trace: o.trace ?? false,
  divergenceFactor: o.divergenceFactor ?? 1e6,
});
