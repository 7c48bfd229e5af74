/**
 * Vectorising map as a graph → graph transform: each equation is replaced by its primitive's
 * batching rule; a primitive without one (or whose rule does not cover the case) is unrolled over
 * the batch, which is always correct, only slower.
 */
import { ShapeError } from '../core/errors.js';
import { type Atom, type Aval, type Graph, type Params, Var } from '../core/ir.js';
import { type Primitive, ruleOf, type Value } from '../core/primitive.js';
import { leafCount, treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { avalOf, bind, readAtom, retap } from '../core/trace.js';
import { batchFirst, broadcastTo, expandDims, moveAxis, reshape, sliceAxis, stack } from '../ops/shape.js';
import { batchSize, fmtShape, normAxis, shapeOf } from '../ops/util.js';
import { autoJit, needsStaging } from './jit.js';
import { isDyn, traceArgs } from './traceArgs.js';

/** The batch axis of a value; null when it is the same for every example. */
export type BatchDim = number | null;

/** Apply `prim` example by example and stack the results along axis 0. */
function unrolled(prim: Primitive, xs: Value[], ds: BatchDim[], params: Params): Value[] {
  const n = batchSize(xs, ds);
  const per: Value[][] = [];
  for (let i = 0; i < n; i++) {
    const ins = xs.map((x, k) => {
      const d = ds[k]!;
      if (d === null) return x;
      return reshape(sliceAxis(x, d, i, i + 1), shapeOf(x).filter((_, j) => j !== d));
    });
    per.push(bind(prim, ins, params));
  }
  return per[0]!.map((_, j) => stack(per.map((o) => o[j]!), 0));
}

/**
 * Interpret `g` on batched inputs inside the current trace: `dims` gives the batch axis of each
 * input (null = shared by all examples). Returns the outputs and their batch axes.
 */
export function vmapInterpret(g: Graph, inputs: readonly Value[], dims: readonly BatchDim[]): [Value[], BatchDim[]] {
  const env = new Map<Var, Value>();
  const denv = new Map<Var, number>();
  g.inputs.forEach((v, i) => {
    env.set(v, inputs[i]!);
    const d = dims[i];
    if (d !== null && d !== undefined) denv.set(v, d);
  });
  const readD = (a: Atom): BatchDim => (a instanceof Var ? denv.get(a) ?? null : null);
  for (const e of g.eqns) {
    const ins = e.inputs.map((a) => readAtom(env, a));
    const ds = e.inputs.map(readD);
    let outs: Value[];
    let odims: BatchDim[];
    if (ds.every((d) => d === null)) {
      outs = bind(e.prim, ins, e.params);
      odims = outs.map(() => null);
    } else {
      const r = ruleOf(e.prim, 'batch')?.(ins, ds, e.params) ?? null;
      if (r) [outs, odims] = r;
      else {
        outs = unrolled(e.prim, ins, ds, e.params);
        odims = outs.map(() => 0);
      }
    }
    e.outputs.forEach((v, i) => {
      env.set(v, outs[i]!);
      const d = odims[i];
      if (d !== null && d !== undefined) denv.set(v, d);
    });
  }
  for (const t of g.taps) retap(t, (a) => readAtom(env, a));
  return [g.outputs.map((a) => readAtom(env, a)), g.outputs.map(readD)];
}

export interface VmapOptions {
  /** Batch axis of each positional argument (null: shared, not batched); one value applies to all. Default 0. */
  inAxes?: BatchDim | BatchDim[];
  /**
   * Where the batch axis goes in the outputs: one value for all, or one per element of a returned
   * array. null: the output is the same for every example and is returned once. Default 0.
   */
  outAxes?: BatchDim | BatchDim[];
}


/**
 * vmap(f) maps f over a batch axis of its arguments: vmap(f)(xs) stacks f(x) for each example x
 * of xs, computed as one batched graph. Plain numbers among the arguments are never batched.
 */
export function vmap<F extends (...args: any[]) => any>(f: F, opts: VmapOptions = {}) {
  const staged = (...args: unknown[]): unknown => {
    const ia = opts.inAxes === undefined ? 0 : opts.inAxes;
    const inAxes: BatchDim[] = Array.isArray(ia) ? ia : args.map(() => ia);
    if (inAxes.length !== args.length) {
      throw new ShapeError(`vmap: inAxes gives ${inAxes.length} axes for ${args.length} arguments; give one per positional argument`);
    }
    const [leaves] = treeFlatten(args);
    const leafDims: BatchDim[] = [];
    args.forEach((a, i) => {
      for (const l of treeFlatten(a)[0]) {
        const ax = inAxes[i];
        leafDims.push(isDyn(l) && ax !== null && ax !== undefined ? normAxis('vmap (inAxes)', ax, avalOf(l).shape.length) : null);
      }
    });
    const dyn = leaves.flatMap((l, i) => (isDyn(l) ? [i] : []));
    const sizes = dyn.flatMap((j) => (leafDims[j] === null ? [] : [avalOf(leaves[j] as Value).shape[leafDims[j]!]!]));
    if (sizes.length === 0) throw new ShapeError('vmap: no argument is batched (inAxes is null for every tensor argument)');
    if (sizes.some((s) => s !== sizes[0])) {
      const shapes = dyn.filter((j) => leafDims[j] !== null).map((j) => `${fmtShape(avalOf(leaves[j] as Value).shape)} at axis ${leafDims[j]}`);
      throw new ShapeError(`vmap: batched arguments disagree on the batch size: ${shapes.join(', ')}`);
    }
    const n = sizes[0]!;
    const exampleAval = (j: number): Aval => {
      const a = avalOf(leaves[j] as Value);
      return { shape: a.shape.filter((_, k) => k !== leafDims[j]), dtype: a.dtype };
    };
    const { graph, captured, outDef } = traceArgs(f, args, exampleAval);
    const [outs, dims] = vmapInterpret(
      graph,
      [...dyn.map((j) => leaves[j] as Value), ...captured],
      [...dyn.map((j) => leafDims[j]!), ...captured.map(() => null)],
    );
    const axes = outLeafAxes(outDef, opts.outAxes);
    const placed = outs.map((o, i) => {
      const ax = axes[i]!;
      if (ax === null) {
        if (dims[i] !== null) throw new ShapeError(`vmap: output ${i} ${fmtShape(shapeOf(o))} depends on the batch, so outAxes cannot be null for it`);
        return o;
      }
      const b = dims[i] === null ? broadcastTo(expandDims(o, 0), [n, ...shapeOf(o)]) : batchFirst(o, dims[i]!);
      return moveAxis(b, 0, normAxis('vmap (outAxes)', ax, shapeOf(b).length));
    });
    return treeUnflatten(outDef, placed);
  };
  return (...args: Parameters<F>): any => (needsStaging(args) ? staged(...args) : autoJit(staged)(...args));
}

/** The out axis of each output leaf: one for all, or one per element of a returned array. */
function outLeafAxes(def: TreeDef, outAxes: BatchDim | BatchDim[] | undefined): BatchDim[] {
  const n = leafCount(def);
  if (!Array.isArray(outAxes)) return new Array<BatchDim>(n).fill(outAxes === undefined ? 0 : outAxes);
  if (def.kind !== 'array' || def.children.length !== outAxes.length) {
    throw new ShapeError(`vmap: outAxes gives ${outAxes.length} axes; the function must return an array of as many elements`);
  }
  return def.children.flatMap((c, i) => new Array<BatchDim>(leafCount(c)).fill(outAxes[i]!));
}
