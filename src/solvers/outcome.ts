/**
 * Numerical outcomes are values: at the run boundary a solve's statistics become an fp-ts Either,
 * Left for divergence or running out of iterations, Right for convergence.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Tensor } from '../core/tensor.js';

export interface SolveReport {
  iterations: number;
  residual: number;
  relResidual: number;
  /** Largest residual after each iteration, when traced. */
  trace?: number[];
}

export interface SolveFailure extends SolveReport {
  kind: 'diverged' | 'maxIter';
  message: string;
}

export type SolveOutcome = E.Either<SolveFailure, SolveReport>;

type StatLike = Tensor | number | boolean;
const num = (x: StatLike): number => (x instanceof Tensor ? x.item() : Number(x));

/** Read concrete stats (tensors from a run, or numbers) into an Either. */
export function solveOutcome(stats: { iterations: StatLike; residual: StatLike; relResidual: StatLike; converged: StatLike; diverged?: StatLike; trace?: Tensor }): SolveOutcome {
  const report: SolveReport = {
    iterations: num(stats.iterations),
    residual: num(stats.residual),
    relResidual: num(stats.relResidual),
    ...(stats.trace ? { trace: stats.trace.toArray().slice(0, num(stats.iterations)) } : {}),
  };
  if (num(stats.converged)) return E.right(report);
  const diverged = stats.diverged !== undefined && num(stats.diverged) !== 0;
  const kind = diverged || !Number.isFinite(report.residual) ? 'diverged' : 'maxIter';
  const message =
    kind === 'diverged'
      ? `the solve diverged after ${report.iterations} iterations (residual ${report.residual.toExponential(2)}): make the cell more contractive (smaller weights, normalisation) or damp the solver`
      : `the solve stopped at maxIter = ${report.iterations} with relative residual ${report.relResidual.toExponential(2)}: raise maxIter, loosen tol or use a faster solver`;
  return E.left({ ...report, kind, message });
}
