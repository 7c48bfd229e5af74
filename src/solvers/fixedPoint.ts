/**
 * fixedPoint(f, z0, args): z* = f(z*, ...args), differentiated by the implicit function theorem.
 *
 * The forward solve is the primitive `fixedPoint`, whose derivative rules never look inside the
 * solver loop: its JVP solves (I − ∂f/∂z) ż = (∂f/∂args) ȧrgs with the linear primitive
 * `linearSolve`, and the transpose of that solve is the same primitive on (∂f/∂z)ᵀ — so reverse
 * mode solves w = (∂f/∂z)ᵀ w + ḡ on the VJP of f at z*, as in the tutorial's backward hook.
 */
import { TransformError } from '../core/errors.js';
import type { Aval, Graph } from '../core/ir.js';
import { definePrimitive, type Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten } from '../core/pytree.js';
import { avalOf, bind, evalGraph, tap, Tracer, traceGraph } from '../core/trace.js';
import { Tensor } from '../core/tensor.js';
import { jvpInterpret } from '../transforms/jvp.js';
import { batchMap, solveCompiled } from './driver.js';
import { solveRecorded } from './unrolled.js';
import { linearizeMap } from './linearize.js';
import * as np from '../np.js';
import { resolveSolver } from './registry.js';
import { type FixedPointOptions, loopSettings, type LoopSettings, type Solver, type SolveStats, STAT_FIELDS } from './types.js';

export interface FixedPointResult {
  value: Value;
  stats: SolveStats;
}

interface SolveParams {
  cell: Graph;
  zShape: number[];
  solver: Solver;
  opts: LoopSettings;
  /** Solver and options of the linear (tangent / backward) solves. */
  linSolver: Solver;
  linOpts: LoopSettings;
  [k: string]: unknown;
}
interface LinearParams extends SolveParams {
  transposed: boolean;
}

/** The avals of a solve primitive's statistics outputs, in STAT_FIELDS order. */
const statAvals = (dt: Tensor['dtype'], maxIter: number, batch: number): Aval[] => {
  const avals: Record<(typeof STAT_FIELDS)[number], Aval> = {
    iterations: { shape: [], dtype: dt },
    residual: { shape: [], dtype: dt },
    relResidual: { shape: [], dtype: dt },
    batchResidual: { shape: [], dtype: dt },
    batchRelResidual: { shape: [], dtype: dt },
    converged: { shape: [], dtype: 'bool' },
    diverged: { shape: [], dtype: 'bool' },
    trace: { shape: [Math.max(maxIter, 1)], dtype: dt },
    sampleIterations: { shape: [batch], dtype: dt },
    sampleRelResidual: { shape: [batch], dtype: dt },
  };
  return STAT_FIELDS.map((k) => avals[k]);
};
/** A complete stats record (trace included) as the primitive's outputs, and back. */
const statsList = (s: Required<SolveStats>): Value[] => STAT_FIELDS.map((k) => s[k]);
const statsOf = (vs: Value[]): Required<SolveStats> => Object.fromEntries(STAT_FIELDS.map((k, i) => [k, vs[i]!])) as Required<SolveStats>;

export const fixedPointP = definePrimitive<SolveParams>({
  name: 'fixedPoint',
  subgraphs: (p) => [p.cell],
  shape: ([z0], p) => [{ shape: z0!.shape, dtype: z0!.dtype }, ...statAvals(z0!.dtype, p.opts.maxIter, p.zShape[0]!)],
  expand: ([z0, ...args], p) => {
    const f = batchMap(p.cell, p.zShape, args);
    const { z, stats } = solveCompiled(p.solver, f, np.reshape(z0!, [p.zShape[0]!, -1]), p.opts);
    return [np.reshape(z, p.zShape), ...statsList(stats)];
  },
  jvp: (primals, tangents, p) => {
    const outs = bind(fixedPointP, primals, p);
    const zStar = outs[0]!;
    const args = primals.slice(1);
    const targs = tangents.slice(1);
    const nulls = outs.map(() => null);
    if (targs.every((t) => t === null)) return [outs, nulls]; // z* does not depend on z0
    const [, [rhs]] = jvpInterpret(p.cell, [zStar, ...args], [null, ...targs]);
    if (!rhs) return [outs, nulls];
    const zDot = linearSolve(rhs, zStar, args, { ...p, solver: p.linSolver, opts: p.linOpts, transposed: false }, 'fixedPoint.tangent');
    return [outs, [zDot, ...nulls.slice(1)]];
  },
});

export const linearSolveP = definePrimitive<LinearParams>({
  name: 'linearSolve',
  subgraphs: (p) => [p.cell],
  shape: ([rhs], p) => [{ shape: rhs!.shape, dtype: rhs!.dtype }, ...statAvals(rhs!.dtype, p.opts.maxIter, p.zShape[0]!)],
  expand: ([rhs, zStar, ...args], p) => {
    const b = p.zShape[0]!;
    const lin = linearizeMap(batchMap(p.cell, p.zShape, args), np.reshape(zStar!, [b, -1]));
    const apply = p.transposed ? lin.vjp : lin.jvp;
    const r = np.reshape(rhs!, [b, -1]);
    const { z, stats } = solveCompiled(p.solver, (w) => np.add(apply(w), r), r, p.opts);
    return [np.reshape(z, p.zShape), ...statsList(stats)];
  },
  jvp: ([rhs, ...rest], [drhs, ...trest], p) => {
    if (trest.some((t) => t !== null)) {
      throw new TransformError('fixedPoint: second derivatives through an implicit solve with respect to the cell inputs are not supported; differentiate once');
    }
    const outs = bind(linearSolveP, [rhs!, ...rest], p);
    const nulls = outs.map(() => null);
    return [outs, [drhs && linearSolve(drhs, rest[0]!, rest.slice(1), p, 'fixedPoint.tangent'), ...nulls.slice(1)]];
  },
  transpose: ([ct], [, zStar, ...args], p) => {
    if (!ct) return [null, null, ...args.map(() => null)];
    const w = linearSolve(ct, zStar as Value, args as Value[], { ...p, transposed: !p.transposed }, p.transposed ? 'fixedPoint.tangent' : 'fixedPoint.backward');
    return [w, null, ...args.map(() => null)];
  },
});

function linearSolve(rhs: Value, zStar: Value, args: Value[], p: LinearParams, label: string): Value {
  const outs = bind(linearSolveP, [rhs, zStar, ...args], p);
  tap(label, { ...publicStats(statsOf(outs.slice(1)), { trace: true, perSample: p.linOpts.perSample }) });
  return outs[0]!;
}

/**
 * Solve z* = f(z*, ...args) for a batch (axis 0 of z0 is the batch). Gradients with respect to
 * args follow `backward`; forward statistics come back as traced values.
 */
export function fixedPoint<A extends unknown[]>(f: (z: Value, ...args: A) => Value, z0: Value, args: A, opts: FixedPointOptions = {}): FixedPointResult {
  const o = loopSettings(opts);
  const solver = resolveSolver(opts.solver, 'anderson');
  const backward = opts.backward ?? 'implicit';
  const [leaves, def] = treeFlatten(args);
  const dyn = leaves.flatMap((l, i) => (l instanceof Tracer || l instanceof Tensor ? [i] : []));
  const callWith = (z: Value, dynVals: Value[]) => {
    const full = [...leaves];
    dyn.forEach((j, k) => { full[j] = dynVals[k]; });
    return f(z, ...treeUnflatten<A>(def, full));
  };
  const dynVals = dyn.map((j) => leaves[j] as Value);
  const zShape = [...np.shape(z0)];
  const { graph, captured } = traceGraph((z, ...xs) => [callWith(z, xs)], [avalOf(z0), ...dynVals.map(avalOf)]);
  const allArgs = [...dynVals, ...captured];
  if (backward === 'unrolled') {
    const { value, stats } = solveRecorded(graph, zShape, solver, o, z0, allArgs);
    tap('fixedPoint.forward', { ...publicStats(stats, { trace: true, perSample: o.perSample }) });
    return { value, stats: publicStats(stats, o) };
  }
  const params: SolveParams = {
    cell: graph,
    zShape,
    solver,
    opts: o,
    linSolver: resolveSolver(opts.backwardSolver, 'anderson'),
    linOpts: loopSettings({ ...opts, tol: opts.backwardTol ?? o.tol, maxIter: opts.backwardMaxIter ?? o.maxIter }),
  };
  const detach = backward !== 'implicit';
  const outs = bind(fixedPointP, [z0, ...(detach ? allArgs.map((a) => np.stopGradient(a)) : allArgs)], params);
  const stats = statsOf(outs.slice(1));
  tap('fixedPoint.forward', { ...publicStats(stats, { trace: true, perSample: o.perSample }) });
  let value: Value = outs[0]!;
  if (backward === 'jfb') {
    value = evalGraph(graph, [np.stopGradient(value), ...allArgs])[0]!;
  } else if (backward !== 'implicit') {
    const k = backward.phantom;
    const lam = backward.damping ?? 0.8;
    let z = np.stopGradient(value);
    for (let i = 0; i < k; i++) {
      const fz = evalGraph(graph, [z, ...allArgs])[0]!;
      z = lam === 1 ? fz : np.add(np.mul(z, 1 - lam), np.mul(fz, lam));
    }
    value = z;
  }
  return { value, stats: publicStats(stats, o) };
}

/**
 * The residual trace and the per-sample books only when asked for: otherwise they are zeros that
 * reports would show as data. (Taps keep the trace, as they always have.)
 */
function publicStats(s: SolveStats, asked: { trace: boolean; perSample: boolean }): SolveStats {
  const { trace, sampleIterations, sampleRelResidual, ...rest } = s;
  return { ...rest, ...(asked.trace ? { trace } : {}), ...(asked.perSample ? { sampleIterations, sampleRelResidual } : {}) };
}

/**
 * customRoot(g, z0, args): z* with g(z*, ...args) = 0, differentiated implicitly
 * (∂z* / ∂θ = −(∂g/∂z)⁻¹ ∂g/∂θ). It is the fixed point of z ↦ z − g(z), whose implicit rule is
 * exactly that; the default solver is Newton's method.
 */
export function customRoot<A extends unknown[]>(g: (z: Value, ...args: A) => Value, z0: Value, args: A, opts: FixedPointOptions = {}): FixedPointResult {
  return fixedPoint((z: Value, ...a: A) => np.sub(z, g(z, ...a)), z0, args, { ...opts, solver: opts.solver ?? 'newton' });
}
