/**
 * The solve loop shared by every solver: per-sample residuals, stopping on absolute or relative
 * residual, the lowest-residual iterate kept, divergence detection and an optional residual trace.
 * `driverInit` / `driverStep` / `driverContinue` are pure np functions, run either inside one
 * whileLoop (compiled) or step by step from the host; both give the same iterates.
 */
import type { Value } from '../core/primitive.js';
import { iota, Tensor } from '../core/tensor.js';
import * as np from '../np.js';
import type { BatchMap, LoopSettings, Solver, SolveStats } from './types.js';

export interface DriverState<S = unknown> {
  k: Value; // int64 scalar: solver steps taken
  s: S;
  best: Value; // [B, d]
  bestMetric: Value; // [B]
  bestAbs: Value; // [B]
  bestRel: Value; // [B]
  limit: Value; // scalar: a stopping metric above this counts as divergence
  limitAbs: Value; // scalar: an absolute residual above this counts as divergence
  last: Value; // scalar: largest metric of the current iterate
  diverged: Value; // bool scalar
  trace: Value; // [maxIter] largest metric per step (zeros when not traced)
  /** With `perSample`: each sample's books, frozen once it first meets the tolerance. */
  sample?: SampleBooks;
}

export interface SampleBooks {
  iterations: Value; // [B] steps until the sample first met the tolerance (float, like the stats)
  relResidual: Value; // [B] its relative residual then
}

/** Books of the samples still short of the tolerance before this step move on to `next`'s values. */
function sampleStep(books: SampleBooks, prevMetric: Value, next: { k: Value; bestRel: Value }, o: LoopSettings): SampleBooks {
  const open = np.logicalNot(np.less(prevMetric, o.tol));
  return {
    iterations: np.where(open, np.astype(next.k, np.dtype(books.iterations)), books.iterations),
    relResidual: np.where(open, next.bestRel, books.relResidual),
  };
}

const rowNorm = (a: Value): Value => np.sqrt(np.sum(np.mul(a, a), 1));
/** true where finite: x − x is 0 for finite x and NaN for ±Inf and NaN. */
export const isFinite = (x: Value): Value => np.equal(np.sub(x, x), 0);

function measure(solver: Solver, s: unknown, stopOn: 'abs' | 'rel') {
  const est = solver.estimate(s);
  const abs = rowNorm(np.sub(est.fz, est.z));
  const rel = np.div(abs, np.add(rowNorm(est.fz), 1e-5));
  return { z: est.z, abs, rel, metric: stopOn === 'abs' ? abs : rel };
}

export function driverInit<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): DriverState<S> {
  const s = solver.init(f, z0);
  const m = measure(solver, s, o.stopOn);
  const dt = np.dtype(z0);
  return {
    k: new Tensor('int64', [], new BigInt64Array([0n])),
    s,
    // init may already have stepped (Anderson takes f(z0)): keep z0 where that is not finite
    best: np.where(np.expandDims(isFinite(m.metric), 1), m.z, z0),
    bestMetric: np.where(isFinite(m.metric), m.metric, Infinity),
    bestAbs: m.abs,
    bestRel: m.rel,
    limit: np.mul(np.maximum(np.max(m.metric), o.tol), o.divergenceFactor),
    // a relative residual can stay flat while the iterate blows up (z ← 2z + 1 keeps it near 0.5),
    // so growth of the absolute residual by the same factor counts as divergence too
    limitAbs: np.mul(np.maximum(np.max(m.abs), o.tol), o.divergenceFactor),
    last: np.max(m.metric),
    diverged: np.logicalNot(np.equal(np.sum(np.astype(np.logicalNot(isFinite(m.metric)), dt)), 0)),
    trace: np.zerosOf([Math.max(o.maxIter, 1)], dt),
    ...(o.perSample ? { sample: { iterations: np.zerosOf([np.shape(z0)[0]!], dt), relResidual: m.rel } } : {}),
  };
}

export function driverStep<S>(solver: Solver<S>, f: BatchMap, st: DriverState<S>, o: LoopSettings): DriverState<S> {
  const s = solver.step(f, st.s);
  const m = measure(solver, s, o.stopOn);
  const better = np.less(m.metric, st.bestMetric); // false for NaN
  const better2 = np.expandDims(better, 1);
  const worst = np.max(m.metric);
  // NaN and ±Inf fail the comparisons too: one test covers blow-up and non-finite residuals
  const bad = np.logicalNot(np.logicalAnd(np.less(worst, st.limit), np.less(np.max(m.abs), st.limitAbs)));
  let trace = st.trace;
  if (o.trace) {
    trace = np.add(trace, np.mul(np.astype(np.equal(iota(o.maxIter), st.k), np.dtype(worst)), worst));
  }
  const k = np.add(st.k, 1);
  const bestRel = np.where(better, m.rel, st.bestRel);
  return {
    k,
    s,
    best: np.where(better2, m.z, st.best),
    bestMetric: np.where(better, m.metric, st.bestMetric),
    bestAbs: np.where(better, m.abs, st.bestAbs),
    bestRel,
    limit: st.limit,
    limitAbs: st.limitAbs,
    last: worst,
    diverged: np.logicalOr(st.diverged, bad),
    trace,
    ...(st.sample ? { sample: sampleStep(st.sample, st.bestMetric, { k, bestRel }, o) } : {}),
  };
}

/** Go on while under maxIter, not diverged, and some sample is not converged. */
export function driverContinue(st: DriverState, o: LoopSettings): Value {
  return np.logicalAnd(
    np.logicalAnd(np.less(st.k, o.maxIter), np.logicalNot(st.diverged)),
    np.logicalNot(np.less(np.max(st.bestMetric), o.tol)),
  );
}

export function driverStats(st: DriverState, o: LoopSettings): Required<SolveStats> {
  const dt = np.dtype(st.best);
  return {
    iterations: np.astype(st.k, dt),
    residual: np.max(st.bestAbs),
    relResidual: np.max(st.bestRel),
    converged: np.less(np.max(st.bestMetric), o.tol),
    diverged: st.diverged,
    trace: st.trace,
    // without perSample the outputs still exist (a primitive's outputs are fixed): zeros, never reported
    sampleIterations: st.sample?.iterations ?? np.zerosOf([np.shape(st.best)[0]!], dt),
    sampleRelResidual: st.sample?.relResidual ?? np.zerosOf([np.shape(st.best)[0]!], dt),
  };
}

/** The whole solve as one whileLoop (one session.run when compiled). */
export function solveCompiled<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): { z: Value; stats: Required<SolveStats> } {
  const init = driverInit(solver, f, z0, o);
  const out = np.whileLoop((st: DriverState<S>) => driverContinue(st, o), (st) => driverStep(solver, f, st, o), init, { maxTrips: o.maxIter });
  return { z: out.best, stats: driverStats(out, o) };
}

/** The solve unrolled into the graph (differentiable step by step; the 'unrolled' backward mode). */
export function solveUnrolled<S>(solver: Solver<S>, f: BatchMap, z0: Value, o: LoopSettings): { z: Value; stats: Required<SolveStats> } {
  let st = driverInit(solver, f, z0, o);
  for (let i = 0; i < o.maxIter; i++) {
    const next = driverStep(solver, f, st, o);
    // samples that have converged stop counting iterations; their kept iterate no longer changes
    const going = driverContinue(st, o);
    // onnxruntime has no bool Where kernel; next.diverged already includes st.diverged
    const prev = st.sample;
    st = { ...next, k: np.where(going, next.k, st.k), diverged: np.logicalOr(st.diverged, np.logicalAnd(going, next.diverged)) };
    // after a divergence the count stands still, and so do the books of samples still open
    if (prev && next.sample) st.sample = { iterations: np.where(going, next.sample.iterations, prev.iterations), relResidual: np.where(going, next.sample.relResidual, prev.relResidual) };
  }
  return { z: st.best, stats: driverStats(st, o) };
}
