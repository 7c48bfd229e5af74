/**
 * The same solver run as a host loop: one compiled step per iteration, the state kept as host
 * tensors between steps. Slower than the compiled loop for small cells, but every iterate can be
 * inspected (`onIterate`), which is what debugging and per-iteration traces need.
 */
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import { jit } from '../transforms/jit.js';
import { driverInit, driverStep, type DriverState } from './driver.js';
import * as np from '../np.js';
import { solveOutcome, type SolveOutcome } from './outcome.js';
import { resolveSolver } from './registry.js';
import { type BatchMap, loopSettings, type Solver, type SolveOptions, type SolverName } from './types.js';

export interface HostSolveOptions extends SolveOptions {
  solver?: SolverName | Solver;
  /** Called after every step with the iteration number and the largest per-sample residual. */
  onIterate?: (k: number, residual: number, z: Tensor) => void;
}

export interface HostSolveResult {
  value: Tensor;
  outcome: SolveOutcome;
  /** Largest per-sample residual (the stopping metric) after each step. */
  residuals: number[];
  /** Number of session runs it took (1 init + 1 per step). */
  runs: number;
}

type Cell = (z: Value, ...args: any[]) => Value;

const mapOf = (f: Cell, zShape: readonly number[], args: unknown[]): BatchMap => (z) =>
  np.reshape(f(np.reshape(z, zShape), ...args), [zShape[0]!, -1]);

/** Compiled init/step pairs, cached per (cell, solver, options). */
const cache = new WeakMap<Cell, Map<string, { init: any; step: any }>>();

export async function fixedPointHost(f: Cell, z0: Tensor, args: unknown[], opts: HostSolveOptions = {}): Promise<HostSolveResult> {
  const o = loopSettings(opts);
  const solver = resolveSolver(opts.solver, 'anderson');
  const key = `${typeof opts.solver === 'object' ? opts.solver.name : opts.solver ?? 'anderson'}|${JSON.stringify(o)}`;
  let perCell = cache.get(f);
  if (!perCell) cache.set(f, (perCell = new Map()));
  let fns = perCell.get(key);
  if (!fns || typeof opts.solver === 'object') {
    fns = {
      init: jit((z: Value, a: unknown[]) => driverInit(solver, mapOf(f, z0.shape, a), np.reshape(z, [z0.shape[0]!, -1]), o)),
      step: jit((st: DriverState, a: unknown[]) => driverStep(solver, mapOf(f, z0.shape, a), st, o)),
    };
    perCell.set(key, fns);
  }
  let st = (await fns.init(z0, args)) as DriverState;
  let runs = 1;
  const residuals: number[] = [];
  const metric = (s: DriverState) => Math.max(...(s.bestMetric as Tensor).toArray());
  while (true) {
    const k = (st.k as Tensor).item();
    if (k >= o.maxIter || (st.diverged as Tensor).item() || metric(st) < o.tol) break;
    st = (await fns.step(st, args)) as DriverState;
    runs++;
    const r = (st.last as Tensor).item();
    residuals.push(r);
    opts.onIterate?.((st.k as Tensor).item(), r, (st.best as Tensor).reshape(z0.shape));
  }
  const maxOf = (t: Value) => Math.max(...(t as Tensor).toArray());
  const outcome = solveOutcome({
    iterations: (st.k as Tensor).item(),
    residual: maxOf(st.bestAbs),
    relResidual: maxOf(st.bestRel),
    converged: metric(st) < o.tol,
    diverged: (st.diverged as Tensor).item() !== 0,
  });
  return { value: (st.best as Tensor).reshape(z0.shape), outcome, residuals, runs };
}
