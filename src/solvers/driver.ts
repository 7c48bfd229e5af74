/**
 * The solve loop shared by every solver: per-sample residuals, stopping on absolute or relative
 * residual per sample or over the whole batch, each sample's lowest-residual iterate kept,
 * divergence detection and an optional residual trace. `driverInit` / `driverStep` are pure np
 * functions, run inside one whileLoop (compiled), step by step from the host, or unrolled; all give
 * the same iterates.
 *
 * The books are kept in few kernels, since for small cells they cost more than the cell: per-sample
 * values stay [B, 1] (no reshapes), the solver may hand over its residual, the divergence limits
 * stay out of the carried state, and only what changes is carried (see solveCompiled).
 */
import type { Graph } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { evalGraph } from '../core/trace.js';
import { iota, scalar, Tensor } from '../core/tensor.js';
import * as np from '../np.js';
import type { BatchMap, LoopSettings, Solver, SolveStats } from './types.js';

/** A traced cell as a map on flattened batches [B, d]: z reshaped to zShape, the cell applied, flattened back. */
export function batchMap(cell: Graph, zShape: number[], args: Value[]): BatchMap {
  const b = zShape[0]!;
  return (z) => np.reshape(evalGraph(cell, [np.reshape(z, zShape), ...args])[0]!, [b, -1]);
}

export interface DriverState<S = unknown> {
  k: Value; // int64 scalar: solver steps counted
  s: S;
  best: Value; // [B, d] each sample's kept (lowest-metric) iterate
  bestMetric: Value; // [B, 1] its stopping metric
  bestAbs: Value; // [B, 1] its absolute residual ‖f(z) − z‖
  bestImage: Value; // [B, 1] its image's norm ‖f(z)‖
  limit: Value; // scalar: a stopping metric above this counts as divergence
  limitAbs: Value; // scalar: an absolute residual above this counts as divergence
  last: Value; // scalar: largest metric of the current iterate
  ok: Value; // bool scalar: no step has diverged
  going: Value; // bool scalar: the solve goes on (kept by masked steps; see driverContinue)
  trace: Value; // [maxIter] largest metric per step (zeros when not traced)
  /** [B, 1] int64: the step each sample's kept iterate came from, when the caller asks for it (init: 0). */
  bestStep?: Value;
  /** With `perSample`: each sample's books, frozen once it first meets the tolerance. */
  sample?: SampleBooks;
}

export interface SampleBooks {
  iterations: Value; // [B, 1] steps until the sample first met the tolerance (float, like the stats)
  relResidual: Value; // [B, 1] its relative residual then
}

/** The relative residual of the kept iterates, from their books. */
const relOf = (st: Pick<DriverState, 'bestAbs' | 'bestImage'>): Value => np.div(st.bestAbs, np.add(st.bestImage, EPS));

const EPS = 1e-5;
const rowNorm = (a: Value): Value => np.norm(a, 1, true); // [B, 1]
/** true where finite: x − x is 0 for finite x and NaN for ±Inf and NaN. */
export const isFinite = (x: Value): Value => np.equal(np.sub(x, x), 0);

function measure(solver: Solver, s: unknown, o: LoopSettings) {
  const est = solver.estimate(s);
  // the metrics only steer the loop: no derivative flows through them (unrolled mode)
  const fz = np.stopGradient(est.fz);
  const g = np.stopGradient(est.g ?? np.sub(est.fz, est.z));
  const abs = rowNorm(g);
  const image = rowNorm(fz);
  const metric = o.stopOn === 'abs' ? abs : np.div(abs, np.add(image, EPS));
  return { z: est.z, abs, image, metric };
}

/** The batch criterion's metric from per-sample norms: one norm over the whole batch. */
function batchMetric(abs: Value, image: Value, stopOn: LoopSettings['stopOn']): Value {
  const total = np.norm(abs);
  return stopOn === 'abs' ? total : np.div(total, np.add(np.norm(image), EPS));
}

/** Converged under the options' criterion, from the kept iterate's books. */
function convergedOf(st: Pick<DriverState, 'bestMetric' | 'bestAbs' | 'bestImage'>, o: LoopSettings): Value {
  return o.stop === 'batch' ? np.less(batchMetric(st.bestAbs, st.bestImage, o.stopOn), o.tol) : np.less(np.max(st.bestMetric), o.tol);
}

/** Not converged (the kept metrics are never NaN: non-finite ones are +Inf). */
const unconverged = (st: Pick<DriverState, 'bestMetric' | 'bestAbs' | 'bestImage'>, o: LoopSettings): Value => np.logicalNot(convergedOf(st, o));

export function driverInit<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): DriverState<S> {
  const s = solver.init(f, z0);
  const m = measure(solver, s, o);
  const dt = np.dtype(z0);
  const finite = isFinite(m.metric);
  const books = {
    // init may already have stepped (Anderson takes f(z0)): keep z0 where that is not finite
    bestMetric: np.where(finite, m.metric, Infinity),
    bestAbs: np.where(finite, m.abs, Infinity),
    bestImage: np.where(finite, m.image, 0),
  };
  const ok = np.equal(np.sum(np.astype(np.logicalNot(finite), dt)), 0);
  const going = o.maxIter > 0 ? np.logicalAnd(ok, unconverged(books, o)) : scalar(0, 'bool');
  return {
    k: new Tensor('int64', [], new BigInt64Array([0n])),
    s,
    best: np.where(finite, m.z, z0),
    ...books,
    limit: np.mul(np.maximum(np.max(m.metric), o.tol), o.divergenceFactor),
    // a relative residual can stay flat while the iterate blows up (z ← 2z + 1 keeps it near 0.5),
    // so growth of the absolute residual by the same factor counts as divergence too
    limitAbs: np.mul(np.maximum(np.max(m.abs), o.tol), o.divergenceFactor),
    last: np.max(m.metric),
    ok,
    going,
    trace: np.zerosOf([Math.max(o.maxIter, 1)], dt),
    ...(o.perSample ? { sample: { iterations: np.zerosOf([np.shape(z0)[0]!, 1], dt), relResidual: relOf(books) } } : {}),
  };
}

/**
 * One solver step and its books. Unmasked, it is only run while the solve goes on (the compiled
 * loop with one step per trip, the host loop): the caller tests `driverContinue` and bounds the
 * steps, and `going` is left as it was. Masked, it may run after the solve is done (several steps
 * per trip, the unrolled solve): the solver state moves on, but the books, the count and the
 * divergence flag only change while `going`, which it keeps up to date, maxIter included.
 */
export function driverStep<S>(solver: Solver<S>, f: BatchMap, st: DriverState<S>, o: LoopSettings, masked = false): DriverState<S> {
  const s = solver.step(f, st.s);
  const m = measure(solver, s, o);
  let better = np.less(m.metric, st.bestMetric); // [B, 1]; false for NaN
  if (masked) better = np.logicalAnd(better, st.going);
  const bestAbs = np.where(better, m.abs, st.bestAbs);
  const books = {
    bestMetric: o.stopOn === 'abs' ? bestAbs : np.where(better, m.metric, st.bestMetric),
    bestAbs,
    bestImage: np.where(better, m.image, st.bestImage),
  };
  const worst = np.max(m.metric);
  // NaN and ±Inf fail the comparisons too: one test covers blow-up and non-finite residuals
  let okStep = np.less(worst, st.limit);
  if (o.stopOn === 'rel') okStep = np.logicalAnd(okStep, np.less(np.max(m.abs), st.limitAbs));
  let trace = st.trace;
  if (o.trace) {
    const slot = np.astype(np.equal(iota(o.maxIter), st.k), np.dtype(worst));
    trace = np.add(trace, np.mul(masked ? np.mul(slot, np.astype(st.going, np.dtype(worst))) : slot, worst));
  }
  let k: Value, ok: Value, going: Value;
  if (masked) {
    k = np.add(st.k, np.astype(st.going, 'int64'));
    ok = np.logicalAnd(st.ok, np.logicalOr(okStep, np.logicalNot(st.going)));
    going = np.logicalAnd(np.logicalAnd(st.going, okStep), np.logicalAnd(unconverged(books, o), np.less(k, o.maxIter)));
  } else {
    k = np.add(st.k, 1);
    ok = okStep;
    going = st.going;
  }
  const out: DriverState<S> = { k, s, best: np.where(better, m.z, st.best), ...books, limit: st.limit, limitAbs: st.limitAbs, last: worst, ok, going, trace };
  if (st.bestStep) out.bestStep = np.where(better, k, st.bestStep);
  if (st.sample) {
    // the books of samples still short of the tolerance before this step move on with it
    let open = np.logicalNot(np.less(st.bestMetric, o.tol)); // [B, 1]
    if (masked) open = np.logicalAnd(open, st.going);
    out.sample = {
      iterations: np.where(open, np.astype(k, np.dtype(st.sample.iterations)), st.sample.iterations),
      relResidual: np.where(open, relOf(books), st.sample.relResidual),
    };
  }
  return out;
}

/** Go on: not diverged and not converged (under maxIter too, unless `bounded`: the caller bounds the steps). */
export function driverContinue(st: Omit<DriverState, 'limit' | 'limitAbs' | 'going' | 'trace'>, o: LoopSettings, bounded = false): Value {
  const go = np.logicalAnd(st.ok, unconverged(st, o));
  return bounded ? go : np.logicalAnd(go, np.less(st.k, o.maxIter));
}

export function driverStats(st: DriverState, o: LoopSettings): Required<SolveStats> {
  const dt = np.dtype(st.best);
  const total = np.norm(st.bestAbs);
  return {
    iterations: np.astype(st.k, dt),
    residual: np.max(st.bestAbs),
    relResidual: np.max(relOf(st)),
    batchResidual: total,
    batchRelResidual: np.div(total, np.add(np.norm(st.bestImage), EPS)),
    converged: convergedOf(st, o),
    diverged: np.logicalNot(st.ok),
    trace: st.trace,
    // without perSample the outputs still exist (a primitive's outputs are fixed): zeros, never reported
    sampleIterations: st.sample ? np.reshape(st.sample.iterations, [-1]) : np.zerosOf([np.shape(st.best)[0]!], dt),
    sampleRelResidual: st.sample ? np.reshape(st.sample.relResidual, [-1]) : np.zerosOf([np.shape(st.best)[0]!], dt),
  };
}

/**
 * The whole solve as one whileLoop (one session.run when compiled), `stepsPerTrip` steps per trip.
 * The carried state is only what changes: the divergence limits are read from outside the loop,
 * the trace is carried only when asked for, and with one step per trip the exit test is computed
 * from the books (`going` is carried only by masked steps).
 */
export function solveCompiled<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): { z: Value; stats: Required<SolveStats> } {
  const init = driverInit(solver, f, z0, o);
  const { limit, limitAbs } = init;
  const perTrip = Math.max(1, Math.min(Math.floor(o.stepsPerTrip), o.maxIter));
  const masked = perTrip > 1;
  type Carried = Omit<DriverState<S>, 'limit' | 'limitAbs' | 'going' | 'trace'> & { going?: Value; trace?: Value };
  const carried = (st: DriverState<S>): Carried => {
    const { limit: _l, limitAbs: _a, going, trace, ...rest } = st;
    return { ...rest, ...(masked ? { going } : {}), ...(o.trace ? { trace } : {}) };
  };
  const full = (c: Carried): DriverState<S> => ({ ...c, limit, limitAbs, going: c.going ?? init.going, trace: c.trace ?? init.trace });
  const body = (c: Carried): Carried => {
    let st = full(c);
    for (let j = 0; j < perTrip; j++) st = driverStep(solver, f, st, o, masked);
    return carried(st);
  };
  const cond = (c: Carried): Value => (masked ? c.going! : driverContinue(c, o, true));
  if (o.maxIter <= 0) return { z: init.best, stats: driverStats(init, o) };
  const out = np.whileLoop(cond, body, carried(init), { maxTrips: Math.max(1, Math.ceil(o.maxIter / perTrip)) });
  return { z: out.best, stats: driverStats(full(out), o) };
}

/** The solve unrolled into the graph (differentiable step by step; the 'unrolled' backward mode). */
export function solveUnrolled<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): { z: Value; stats: Required<SolveStats> } {
  let st = driverInit(solver, f, z0, o);
  // samples that have converged stop counting iterations; their kept iterate no longer changes
  for (let i = 0; i < o.maxIter; i++) st = driverStep(solver, f, st, o, true);
  return { z: st.best, stats: driverStats(st, o) };
}
