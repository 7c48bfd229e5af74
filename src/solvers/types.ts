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
  /**
   * The current estimate and its image under f; `g`, the residual f(z) − z, when the state holds it
   * already (the driver then skips a subtraction).
   */
  estimate(state: S): { z: Value; fz: Value; g?: Value };
}

export type SolverName = 'forward' | 'neumann' | 'anderson' | 'broyden' | 'newton' | 'newtonKrylov' | 'gmres';

/**
 * How gradients flow through a solve: the implicit function theorem, the last k damped steps
 * unrolled (phantom gradients), Jacobian-free (the identity in place of (I − J)⁻¹), or backprop
 * through every iteration that ran (unrolled: the forward loop records the solver's states and a
 * second loop runs the steps' pullbacks in reverse; reverse mode only).
 */
export type BackwardMode = 'implicit' | 'jfb' | 'unrolled' | { phantom: number; damping?: number };

export type StopOn = 'abs' | 'rel';

/** Whose residual must fall below the tolerance: every sample's own, or one norm over the whole batch. */
export type StopCriterion = 'sample' | 'batch';

/** Options of one solve loop. */
export interface SolveOptions {
  /** Tolerance on the residual chosen by `stopOn` (default 1e-4). */
  tol?: number;
  /** Iteration limit (default 50). */
  maxIter?: number;
  /** Stop on the absolute residual ‖f(z) − z‖ or the relative ‖f(z) − z‖ / (1e-5 + ‖f(z)‖) (default 'rel'). */
  stopOn?: StopOn;
  /**
   * 'sample' (default): stop when every sample's residual is below tol (the worst sample decides).
   * 'batch': stop when one norm over the whole batch is, ‖F − Z‖ (/ (1e-5 + ‖F‖) for 'rel'), the
   * tutorial's criterion; single samples may then stay above tol. Either way each sample keeps its
   * lowest-residual iterate, and the statistics report both criteria.
   */
  stop?: StopCriterion;
  /**
   * Solver steps per trip of the compiled loop (default 1). With k > 1 the loop's exit is tested
   * every k steps; each step still keeps its own books (best iterate, iteration count, divergence)
   * and stops counting once the solve is done, so the reported iterate, iteration count and
   * statistics are those of k = 1, at the price of up to k − 1 steps computed past the stop.
   */
  stepsPerTrip?: number;
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

export const SOLVE_DEFAULTS: LoopSettings = { tol: 1e-4, maxIter: 50, stopOn: 'rel', stop: 'sample', stepsPerTrip: 1, trace: false, divergenceFactor: 1e6, perSample: false };

export const loopSettings = (o: SolveOptions): LoopSettings => ({
  tol: o.tol ?? SOLVE_DEFAULTS.tol,
  maxIter: o.maxIter ?? SOLVE_DEFAULTS.maxIter,
  stopOn: o.stopOn ?? SOLVE_DEFAULTS.stopOn,
  stop: o.stop ?? SOLVE_DEFAULTS.stop,
  stepsPerTrip: o.stepsPerTrip ?? SOLVE_DEFAULTS.stepsPerTrip,
  trace: o.trace ?? SOLVE_DEFAULTS.trace,
  divergenceFactor: o.divergenceFactor ?? SOLVE_DEFAULTS.divergenceFactor,
  perSample: o.perSample ?? SOLVE_DEFAULTS.perSample,
});

/**
 * Solve statistics as traced values: scalars over the batch, and with `trace: true` the largest
 * per-sample stopping metric after each iteration, [maxIter], zero-padded. The residuals are those
 * of the kept iterate (each sample's lowest-residual one) under both stopping criteria.
 */
export interface SolveStats {
  iterations: Value;
  /** Largest per-sample absolute residual ‖f(z) − z‖ (the 'sample' criterion with stopOn 'abs'). */
  residual: Value;
  /** Largest per-sample relative residual ‖f(z) − z‖ / (1e-5 + ‖f(z)‖) ('sample', 'rel'). */
  relResidual: Value;
  /** One norm over the whole batch, ‖F − Z‖ (the 'batch' criterion with stopOn 'abs'). */
  batchResidual: Value;
  /** ‖F − Z‖ / (1e-5 + ‖F‖) over the whole batch ('batch', 'rel'; the tutorial's residual). */
  batchRelResidual: Value;
  /** The residual the options stop on is below tol. */
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
export const STAT_FIELDS = ['iterations', 'residual', 'relResidual', 'batchResidual', 'batchRelResidual', 'converged', 'diverged', 'trace', 'sampleIterations', 'sampleRelResidual'] as const;

/** Solve statistics read back to the host. */
export interface SolveReport {
  iterations: number;
  residual: number;
  relResidual: number;
  batchResidual: number;
  batchRelResidual: number;
  converged: boolean;
  diverged: boolean;
  /** Largest stopping metric after each iteration, when traced. */
  trace?: number[];
  /** Each sample's iterations and relative residual, with `perSample: true`. */
  sampleIterations?: number[];
  sampleRelResidual?: number[];
}
