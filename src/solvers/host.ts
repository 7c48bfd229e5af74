/**
 * The same solver run as a host loop: one compiled step per iteration, the state kept as host
 * tensors between steps. Slower than the compiled loop for small cells, but every iterate can be
 * inspected (`onIterate`), which is what debugging and per-iteration traces need.
 */
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import { jit } from '../transforms/jit.js';
import { driverContinue, driverInit, driverStats, driverStep, type DriverState } from './driver.js';
import * as np from '../np.js';
import { type ConcreteStats, solveOutcome, type SolveOutcome } from './outcome.js';
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

/** A state, its statistics and whether to go on, from one run. */
interface Stepped { st: DriverState; stats: ConcreteStats; going: Tensor }

/** Compiled init/step pairs, cached per (cell, solver, options). */
const cache = new WeakMap<Cell, Map<string, { init: any; step: any }>>();

export async function fixedPointHost(f: Cell, z0: Tensor, args: unknown[], opts: HostSolveOptions = {}): Promise<HostSolveResult> {
  const o = loopSettings(opts);
  const solver = resolveSolver(opts.solver, 'anderson');
  const key = `${typeof opts.solver === 'object' ? opts.solver.name : opts.solver ?? 'anderson'}|${JSON.stringify(o)}`;
  let perCell = cache.get(f);
  if (!perCell) cache.set(f, (perCell = new Map()));
  // each run also returns the statistics of the state it reached, so the last one needs no extra run
  const withStats = (st: DriverState) => ({ st, stats: driverStats(st, o), going: driverContinue(st, o) });
  let fns = perCell.get(key);
  if (!fns || typeof opts.solver === 'object') {
    fns = {
      init: jit((z: Value, a: unknown[]) => withStats(driverInit(solver, mapOf(f, z0.shape, a), np.reshape(z, [z0.shape[0]!, -1]), o))),
      step: jit((st: DriverState, a: unknown[]) => withStats(driverStep(solver, mapOf(f, z0.shape, a), st, o))),
    };
    perCell.set(key, fns);
  }
  let { st, stats, going } = (await fns.init(z0, args)) as Stepped;
  let runs = 1;
  const residuals: number[] = [];
  while (true) {
    if (!going.item()) break;
    ({ st, stats, going } = (await fns.step(st, args)) as Stepped);
    runs++;
    const r = (st.last as Tensor).item();
    residuals.push(r);
    opts.onIterate?.((st.k as Tensor).item(), r, (st.best as Tensor).reshape(z0.shape));
  }
  const outcome = solveOutcome(stats);
  return { value: (st.best as Tensor).reshape(z0.shape), outcome, residuals, runs };
}
