/**
 * The 'unrolled' backward mode: backprop through the solver iterations that actually ran (the
 * tutorial's first layer), without putting maxIter steps into the graph. The forward solve is the
 * compiled loop with its early exit, recording the solver state before every step; the backward
 * pass is a second loop over those steps in reverse, applying the step's pullback at each recorded
 * state. Its cost follows the iterations taken, not maxIter. Reverse mode only: forward mode
 * (jvp) through it is not defined.
 *
 * What the loops carry and record is trimmed to what the pullbacks read: only the state leaves a
 * step or the estimate reads are recorded, and only the rows of the trips taken; a pullback takes
 * the step's output from the next recorded state instead of computing the step again (for forward
 * iteration, f(z) is the next iterate: the reverse trip is the VJP alone); cotangents known to be
 * zero are not added.
 */
import { isFloat } from '../core/dtype.js';
import { type Graph, Var } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { type TreeDef, treeFlatten, treeUnflatten } from '../core/pytree.js';
import { avalOf, traceGraph } from '../core/trace.js';
import { Tensor } from '../core/tensor.js';
import { whileScan } from '../control/loop.js';
import { customVjp } from '../transforms/customVjp.js';
import { pruneGraph } from '../transforms/prune.js';
import { vjpInterpret } from '../transforms/transpose.js';
import { batchMap, driverContinue, driverInit, driverStats, driverStep, solveCompiled, type DriverState } from './driver.js';
import * as np from '../np.js';
import type { BatchMap, LoopSettings, Solver, SolveStats } from './types.js';

/**
 * Cotangents of `fn`'s inputs at `primals`, given its outputs' cotangents, in the current trace
 * (null where none flows: non-float inputs and symbolic zeros). `known[j]`: output j's value,
 * computed before.
 */
function pullback(fn: (...xs: Value[]) => Value[], primals: Value[], cts: Value[], known?: (Value | undefined)[]): (Value | null)[] {
  const { graph, captured } = traceGraph((...xs) => fn(...xs), primals.map(avalOf));
  const mask = [...primals.map((p) => isFloat(avalOf(p).dtype)), ...captured.map(() => false)];
  const [, grads] = vjpInterpret(graph, mask, [...primals, ...captured], cts, known, true);
  let k = 0;
  return primals.map((_, i) => (mask[i] ? grads[k++]! : null));
}

const orZeros = (ct: Value | null, like: Value): Value => ct ?? np.zerosLike(like);

/** a + b where either may be a symbolic zero (null). */
const addCts = (a: Value | null, b: Value | null): Value | null => (a && b ? np.add(a, b) : a ?? b);

/**
 * Which state leaves the step or the estimate computes with: the pullbacks need their values, so
 * they are recorded. A leaf only passed through (forward iteration's next z is the last f(z)) is
 * not: the pullback of a copy does not read its value. From the two traced together, dead
 * equations pruned.
 */
function leavesRead(solver: Solver, f: BatchMap, leaves: Value[], def: TreeDef): boolean[] {
  const { graph } = traceGraph((...xs) => {
    const s = treeUnflatten(def, xs);
    return [...treeFlatten<Value>(solver.step(f, s))[0], solver.estimate(s).z];
  }, leaves.map(avalOf));
  const g: Graph = pruneGraph(graph);
  const read = new Set<Var>();
  for (const e of g.eqns) for (const a of e.inputs) if (a instanceof Var) read.add(a);
  return leaves.map((_, j) => read.has(g.inputs[j]!));
}

/**
 * z* of the cell `cell` (a traced graph: [z of shape zShape, ...args] → [f(z)]) with the
 * 'unrolled' gradient in args and z0. Returns the kept iterate and the solve's statistics.
 */
export function solveRecorded(cell: Graph, zShape: number[], solver: Solver, o: LoopSettings, z0: Value, args: Value[]): { value: Value; stats: Required<SolveStats> } {
  const b = zShape[0]!;
  const mapWith = (a: Value[]): BatchMap => batchMap(cell, zShape, a);
  const flat = (z: Value) => np.reshape(z, [b, -1]);

  const plain = (z: Value, a: Value[]) => {
    const { z: best, stats } = solveCompiled(solver, mapWith(a), flat(z), o);
    return { value: np.reshape(best, zShape), stats };
  };

  const fwd = (z: Value, a: Value[]) => {
    const f = mapWith(a);
    const init: DriverState = { ...driverInit(solver, f, flat(z), o), bestStep: new Tensor('int64', [b, 1]) };
    // the divergence limits are read from outside the loop; the trace is carried only when asked for
    const { limit, limitAbs, going: _g, trace: trace0, ...rest } = init;
    type Carried = Omit<DriverState, 'limit' | 'limitAbs' | 'going' | 'trace'> & { trace?: Value };
    const carried: Carried = o.trace ? { ...rest, trace: trace0 } : rest;
    const full = (c: Carried): DriverState => ({ ...c, limit, limitAbs, going: init.going, trace: c.trace ?? trace0 });
    const [leaves0, sDef] = treeFlatten<Value>(init.s);
    const read = leavesRead(solver, f, leaves0, sDef);
    const ran = o.maxIter > 0
      ? whileScan(
        (c: Carried) => driverContinue(c, o, true),
        (c: Carried): [Carried, Value[]] => {
          const { limit: _l, limitAbs: _a, going: _h, trace, ...next } = driverStep(solver, f, full(c), o);
          return [o.trace ? { ...next, trace } : next, treeFlatten<Value>(c.s)[0].filter((_, j) => read[j])];
        },
        carried,
        { maxTrips: o.maxIter, rows: 'taken' },
      )
      : { state: carried, records: undefined };
    const st = full(ran.state);
    const out = { value: np.reshape(st.best, zShape), stats: driverStats(st, o) };
    return [out, { records: ran.records, last: st.s, k: st.k, bestStep: st.bestStep!, z, a }] as [typeof out, unknown];
  };

  interface Saved { records: Value[] | undefined; last: unknown; k: Value; bestStep: Value; z: Value; a: Value[] }
  const bwd = (saved: Saved, ct: { value: Value }) => {
    const [lastLeaves, sDef] = treeFlatten<Value>(saved.last);
    const nS = lastLeaves.length;
    const { a } = saved;
    // the same leaves as the forward pass recorded
    const read = leavesRead(solver, mapWith(a), lastLeaves, sDef);
    const ctZ = flat(ct.value);
    const dt = np.dtype(ctZ);
    // a recorded state: the leaves nothing reads stand in as zeros (pruned away)
    const stateOf = (rec: Value[]) => {
      let r = 0;
      return lastLeaves.map((l, j) => (read[j] ? rec[r++]! : np.zerosLike(l)));
    };
    const recordOf = (leaves: Value[]) => leaves.filter((_, j) => read[j]);
    // a state's recorded leaves, as the known outputs of the step (or init) that produced it
    const knownOf = (rec: Value[]) => {
      let r = 0;
      return read.map((x) => (x ? rec[r++]! : undefined));
    };
    const estimateZ = (...sl: Value[]) => [solver.estimate(treeUnflatten(sDef, sl)).z];
    // the output's cotangent lands on step i's iterate for the samples whose kept iterate it is
    const fromOutput = (leaves: Value[], i: Value) => {
      const mask = np.astype(np.equal(saved.bestStep, i), dt);
      return pullback(estimateZ, leaves, [np.mul(ctZ, mask)]);
    };
    let lam = fromOutput(lastLeaves, saved.k).map((c, j) => orZeros(c, lastLeaves[j]!));
    const floatArg = a.map((v) => isFloat(avalOf(v).dtype));
    let dArgs = a.filter((_, j) => floatArg[j]).map((v) => np.zerosLike(v));
    /** The float args' running cotangents `ds` plus a pullback's `gs` (one per arg); null for the other args. */
    const accumulate = (ds: Value[], gs: (Value | null)[]): (Value | null)[] => {
      let k = 0;
      return a.map((_, j) => (floatArg[j] ? addCts(ds[k++]!, gs[j]!) : null));
    };
    // the recorded leaves of the state after the step being pulled back
    let next = recordOf(lastLeaves);
    if (o.maxIter > 0) {
      const recLeaves = saved.records!;
      const stepLeaves = (...xs: Value[]) => {
        const s = solver.step(mapWith(xs.slice(nS)), treeUnflatten(sDef, xs.slice(0, nS)));
        return treeFlatten<Value>(s)[0];
      };
      const back = np.whileLoop(
        (c: { i: Value; lam: Value[]; dArgs: Value[]; next: Value[] }) => np.logicalNot(np.less(c.i, 0)),
        (c) => {
          const rec = recLeaves.map((r) => np.take(r, c.i, 0));
          const si = stateOf(rec);
          const g = pullback(stepLeaves, [...si, ...a], c.lam, knownOf(c.next));
          const own = fromOutput(si, c.i);
          const dA = accumulate(c.dArgs, g.slice(nS)).filter((d): d is Value => d !== null);
          return { i: np.sub(c.i, 1), lam: si.map((v, j) => orZeros(addCts(own[j]!, g[j]!), v)), dArgs: dA, next: rec };
        },
        { i: np.sub(saved.k, 1), lam, dArgs, next },
        { maxTrips: o.maxIter },
      );
      lam = back.lam;
      dArgs = back.dArgs;
      next = back.next;
    }
    // through init: s₀ = init(z0), whose recorded leaves are those of the first recorded state
    const initLeaves = (zz: Value, ...xs: Value[]) => treeFlatten<Value>(solver.init(mapWith(xs), flat(zz)))[0];
    const g0 = pullback(initLeaves, [saved.z, ...a], lam, knownOf(next));
    return [orZeros(g0[0]!, saved.z), accumulate(dArgs, g0.slice(1))];
  };

  const solve = customVjp((z: Value, a: Value[]) => plain(z, a), { fwd, bwd });
  return solve(z0, args) as { value: Value; stats: Required<SolveStats> };
}
