/**
 * Numerical outcomes are values: a solve's statistics read back to the host (`readStats`), and at
 * the run boundary an fp-ts Either, Left for divergence or running out of iterations.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Tensor } from '../core/tensor.js';
import type { SolveReport } from './types.js';

export interface SolveFailure extends SolveReport {
  kind: 'diverged' | 'maxIter';
  message: string;
}

export type SolveOutcome = E.Either<SolveFailure, SolveReport>;

/** Concrete statistics of a run: tensors (a jitted function's stats or taps) or numbers. */
export type ConcreteStats = Readonly<Partial<Record<keyof SolveReport, Tensor | number | boolean>>>;

const num = (x: Tensor | number | boolean | undefined): number => (x instanceof Tensor ? x.item() : Number(x ?? NaN));

/** Read a stats record to numbers; the trace is cut to the iterations taken. */
export function readStats(stats: ConcreteStats): SolveReport {
  const iterations = num(stats.iterations);
  const trace = stats.trace instanceof Tensor ? stats.trace.toArray().slice(0, Math.max(0, iterations)) : undefined;
  const perSample = stats.sampleIterations instanceof Tensor && stats.sampleRelResidual instanceof Tensor
    ? { sampleIterations: stats.sampleIterations.toArray(), sampleRelResidual: stats.sampleRelResidual.toArray() }
    : {};
  return {
    iterations,
    residual: num(stats.residual),
    relResidual: num(stats.relResidual),
    batchResidual: num(stats.batchResidual),
    batchRelResidual: num(stats.batchRelResidual),
    converged: num(stats.converged) === 1,
    diverged: num(stats.diverged) === 1,
    ...(trace ? { trace } : {}),
    ...perSample,
  };
}

/** A solve's report as an Either: Right when it converged. */
export function solveOutcome(stats: SolveReport | ConcreteStats): SolveOutcome {
  const report = isReport(stats) ? stats : readStats(stats);
  if (report.converged) return E.right(report);
  const kind = report.diverged || !Number.isFinite(report.residual) ? 'diverged' : 'maxIter';
  const message =
    kind === 'diverged'
      ? `the solve diverged after ${report.iterations} iterations (residual ${report.residual.toExponential(2)}): make the cell more contractive (smaller weights, normalisation) or damp the solver`
      : `the solve stopped at maxIter = ${report.iterations} with relative residual ${report.relResidual.toExponential(2)}: raise maxIter, loosen tol or use a faster solver`;
  return E.left({ ...report, kind, message });
}

const isReport = (s: SolveReport | ConcreteStats): s is SolveReport =>
  typeof s.converged === 'boolean' && typeof s.iterations === 'number' && typeof s.diverged === 'boolean';
