/**
 * The 'unrolled' backward mode: backprop through the solver iterations that actually ran (the
 * tutorial's first layer), without putting maxIter steps into the graph. The forward solve is the
 * compiled loop with its early exit, recording the solver state before every step; the backward
 * pass is a second loop over those steps in reverse, applying the step's pullback at each recorded
 * state. Its cost follows the iterations taken, not maxIter. Reverse mode only: forward mode
 * (jvp) through it is not defined.
 */
import { isFloat } from '../core/dtype.js';
import type { Graph } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten } from '../core/pytree.js';
import { avalOf, evalGraph, traceGraph } from '../core/trace.js';
import { Tensor } from '../core/tensor.js';
import { whileScan } from '../control/loop.js';
import { customVjp } from '../transforms/customVjp.js';
import { vjpInterpret } from '../transforms/transpose.js';
import { driverContinue, driverInit, driverStats, driverStep, solveCompiled, type DriverState } from './driver.js';
import * as np from '../np.js';
import type { BatchMap, LoopSettings, Solver, SolveStats } from './types.js';

/**
 * Cotangents of `fn`'s inputs at `primals`, given its outputs' cotangents, in the current trace
 * (null for non-float inputs).
 */
function pullback(fn: (...xs: Value[]) => Value[], primals: Value[], cts: Value[]): (Value | null)[] {
  const { graph, captured } = traceGraph((...xs) => fn(...xs), primals.map(avalOf));
  const mask = [...primals.map((p) => isFloat(avalOf(p).dtype)), ...captured.map(() => false)];
  const [, grads] = vjpInterpret(graph, mask, [...primals, ...captured], cts);
  let k = 0;
  return primals.map((_, i) => (mask[i] ? grads[k++]! : null));
}

const orZeros = (ct: Value | null, like: Value): Value => ct ?? np.zerosLike(like);

/**
 * z* of the cell `cell` (a traced graph: [z of shape zShape, ...args] → [f(z)]) with the
 * 'unrolled' gradient in args and z0. Returns the kept iterate and the solve's statistics.
 */
export function solveRecorded(cell: Graph, zShape: number[], solver: Solver, o: LoopSettings, z0: Value, args: Value[]): { value: Value; stats: Required<SolveStats> } {
  const b = zShape[0]!;
  const mapWith = (a: Value[]): BatchMap => (z) => np.reshape(evalGraph(cell, [np.reshape(z, zShape), ...a])[0]!, [b, -1]);
  const flat = (z: Value) => np.reshape(z, [b, -1]);

  const plain = (z: Value, a: Value[]) => {
    const { z: best, stats } = solveCompiled(solver, mapWith(a), flat(z), o);
    return { value: np.reshape(best, zShape), stats };
  };

  const fwd = (z: Value, a: Value[]) => {
    const f = mapWith(a);
    const init: DriverState = { ...driverInit(solver, f, flat(z), o), bestStep: new Tensor('int64', [b, 1]) };
    const { limit, limitAbs, going: _g, ...carried } = init;
    type Carried = Omit<DriverState, 'limit' | 'limitAbs' | 'going'>;
    const full = (c: Carried): DriverState => ({ ...c, limit, limitAbs, going: init.going });
    const ran = o.maxIter > 0
      ? whileScan(
        (c: Carried) => driverContinue(c, o, true),
        (c: Carried): [Carried, unknown] => {
          const { limit: _l, limitAbs: _a, going: _h, ...next } = driverStep(solver, f, full(c), o);
          return [next, c.s];
        },
        carried,
        { maxTrips: o.maxIter },
      )
      : { state: carried, records: undefined };
    const st = full(ran.state);
    const out = { value: np.reshape(st.best, zShape), stats: driverStats(st, o) };
    return [out, { records: ran.records, last: st.s, k: st.k, bestStep: st.bestStep!, z, a }] as [typeof out, unknown];
  };

  interface Saved { records: unknown; last: unknown; k: Value; bestStep: Value; z: Value; a: Value[] }
  const bwd = (saved: Saved, ct: { value: Value }) => {
    const [lastLeaves, sDef] = treeFlatten<Value>(saved.last);
    const nS = lastLeaves.length;
    const ctZ = flat(ct.value);
    const dt = np.dtype(ctZ);
    const a = saved.a;
    const estimateZ = (...sl: Value[]) => [solver.estimate(treeUnflatten(sDef, sl)).z];
    // the output's cotangent lands on step i's iterate for the samples whose kept iterate it is
    const fromOutput = (leaves: Value[], i: Value) => {
      const mask = np.astype(np.equal(saved.bestStep, i), dt);
      return pullback(estimateZ, leaves, [np.mul(ctZ, mask)]).map((c, j) => orZeros(c, leaves[j]!));
    };
    let lam = fromOutput(lastLeaves, saved.k);
    const argZeros = a.map((v) => (isFloat(avalOf(v).dtype) ? np.zerosLike(v) : null));
    let dArgs = argZeros.filter((v): v is Value => v !== null);
    if (o.maxIter > 0) {
      const [recLeaves] = treeFlatten<Value>(saved.records);
      const stepLeaves = (...xs: Value[]) => {
        const next = solver.step(mapWith(xs.slice(nS)), treeUnflatten(sDef, xs.slice(0, nS)));
        return treeFlatten<Value>(next)[0];
      };
      const back = np.whileLoop(
        (c: { i: Value; lam: Value[]; dArgs: Value[] }) => np.logicalNot(np.less(c.i, 0)),
        (c) => {
          const si = recLeaves.map((r) => np.take(r, c.i, 0));
          const g = pullback(stepLeaves, [...si, ...a], c.lam);
          const own = fromOutput(si, c.i);
          let k = 0;
          const dA = a.flatMap((_, j) => (argZeros[j] ? [np.add(c.dArgs[k++]!, orZeros(g[nS + j]!, a[j]!))] : []));
          return { i: np.sub(c.i, 1), lam: own.map((v, j) => np.add(v, orZeros(g[j]!, si[j]!))), dArgs: dA };
        },
        { i: np.sub(saved.k, 1), lam, dArgs },
        { maxTrips: o.maxIter },
      );
      lam = back.lam;
      dArgs = back.dArgs;
    }
    // through init: s₀ = init(z0)
    const initLeaves = (zz: Value, ...xs: Value[]) => treeFlatten<Value>(solver.init(mapWith(xs), flat(zz)))[0];
    const g0 = pullback(initLeaves, [saved.z, ...a], lam);
    let k = 0;
    const argCts = a.map((v, j) => (argZeros[j] ? np.add(dArgs[k++]!, orZeros(g0[1 + j]!, v)) : null));
    return [orZeros(g0[0]!, saved.z), argCts];
  };

  const solve = customVjp((z: Value, a: Value[]) => plain(z, a), { fwd, bwd });
  return solve(z0, args) as { value: Value; stats: Required<SolveStats> };
}
