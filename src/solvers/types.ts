/**
 * The solve contract, one place for all of it: what a solver is, the options every solve takes
 * (resolved once into their complete form), and the statistics every solve reports — as traced
 * values inside a graph and as numbers on the host.
 */
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

export type SolverName = 'forward' | 'neumann' | 'anderson' | 'broyden' | 'newton' | 'newtonKrylov' | 'gmres';

/**
 * How gradients flow through a solve: the implicit function theorem, the last k damped steps
 * unrolled (phantom gradients), Jacobian-free (the identity in place of (I − J)⁻¹), or backprop
 * through every iteration (unrolled).
 */
export type BackwardMode = 'implicit' | 'jfb' | 'unrolled' | { phantom: number; damping?: number };

export type StopOn = 'abs' | 'rel';

/** Options of one solve loop. */
export interface SolveOptions {
  /** Tolerance on the residual chosen by `stopOn` (default 1e-4). */
  tol?: number;
  /** Iteration limit (default 50). */
  maxIter?: number;
  /** Stop on the absolute residual ‖f(z) − z‖ or the relative ‖f(z) − z‖ / (1e-5 + ‖f(z)‖) (default 'rel'), per sample. */
  stopOn?: StopOn;
  /** Record the residual after every iteration (the tutorial's semilog plots). */
  trace?: boolean;
  /**
   * Divergence: an absolute residual this many times the first one, or a stopping metric this many
   * times the first one (or the tolerance, if larger), ends the solve as diverged (default 1e6).
   */
  divergenceFactor?: number;
  /**
   * Also report each sample's own numbers: the iterations it took to reach the tolerance and its
   * relative residual then (`sampleIterations`, `sampleRelResidual`), as a batch-1 solve would
   * (default false: two more [B] updates per iteration).
   */
  perSample?: boolean;
}

/** Options of a fixed-point solve and of its derivative (the backward linear solve). */
export interface FixedPointOptions extends SolveOptions {
  /** Forward solver (default 'anderson'). */
  solver?: SolverName | Solver;
  /** How gradients are formed (default 'implicit'). */
  backward?: BackwardMode;
  /** Solver for the backward linear fixed point w = Jᵀ w + ḡ (default 'anderson'; 'forward' = Neumann, 'gmres'). */
  backwardSolver?: SolverName | Solver;
  /** Tolerance of the backward solve (default: tol). */
  backwardTol?: number;
  /** Iteration limit of the backward solve (default: maxIter). */
  backwardMaxIter?: number;
}

/** A solve loop's options in complete form. */
export type LoopSettings = Readonly<Required<SolveOptions>>;

export const SOLVE_DEFAULTS: LoopSettings = { tol: 1e-4, maxIter: 50, stopOn: 'rel', trace: false, divergenceFactor: 1e6, perSample: false };

export const loopSettings = (o: SolveOptions): LoopSettings => ({
  tol: o.tol ?? SOLVE_DEFAULTS.tol,
  maxIter: o.maxIter ?? SOLVE_DEFAULTS.maxIter,
  stopOn: o.stopOn ?? SOLVE_DEFAULTS.stopOn,
  trace: o.trace ?? SOLVE_DEFAULTS.trace,
  divergenceFactor: o.divergenceFactor ?? SOLVE_DEFAULTS.divergenceFactor,
  perSample: o.perSample ?? SOLVE_DEFAULTS.perSample,
});

/**
 * Solve statistics as traced values: scalars over the batch (the worst sample), and with
 * `trace: true` the largest stopping metric after each iteration, [maxIter], zero-padded.
 */
export interface SolveStats {
  iterations: Value;
  /** Largest per-sample absolute residual of the kept (lowest-residual) iterate. */
  residual: Value;
  /** Largest per-sample relative residual of the kept iterate. */
  relResidual: Value;
  converged: Value;
  diverged: Value;
  trace?: Value;
  /**
   * With `perSample: true`, [B]: the iterations each sample took to first reach the tolerance (all
   * of them for a sample that never did), and its relative residual at that point.
   */
  sampleIterations?: Value;
  sampleRelResidual?: Value;
}

/** The order in which a solve primitive outputs its statistics (after the solution). */
export const STAT_FIELDS = ['iterations', 'residual', 'relResidual', 'converged', 'diverged', 'trace', 'sampleIterations', 'sampleRelResidual'] as const;

/** Solve statistics read back to the host. */
export interface SolveReport {
  iterations: number;
  residual: number;
  relResidual: number;
  converged: boolean;
  diverged: boolean;
  /** Largest stopping metric after each iteration, when traced. */
  trace?: number[];
  /** Each sample's iterations and relative residual, with `perSample: true`. */
  sampleIterations?: number[];
  sampleRelResidual?: number[];
}
