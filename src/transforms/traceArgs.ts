/** Trace a function of pytree arguments: its tensor and tracer leaves become graph inputs. */
import { TraceError } from '../core/errors.js';
import type { Aval, Graph } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { full, Tensor } from '../core/tensor.js';
import { avalOf, Tracer, traceGraph } from '../core/trace.js';

export const isDyn = (l: unknown): l is Value => l instanceof Tensor || l instanceof Tracer;

export interface TracedArgs {
  graph: Graph;
  /** Tracers of enclosing traces the function used: the graph's last inputs. */
  captured: Tracer[];
  leaves: unknown[];
  def: TreeDef;
  /** Indices of the leaves that are graph inputs (the rest are static: numbers and such). */
  dyn: number[];
  outDef: TreeDef;
}

/**
 * Trace fn(...args); static leaves stay as they are. `avalFor(j)` gives the abstract value of
 * leaf j (default: its own), e.g. one example's shape under vmap.
 */
export function traceArgs(fn: (...a: any[]) => unknown, args: unknown[], avalFor?: (j: number) => Aval): TracedArgs {
  const [leaves, def] = treeFlatten(args);
  const dyn = leaves.flatMap((l, i) => (isDyn(l) ? [i] : []));
  let outDef: TreeDef | undefined;
  const { graph, captured } = traceGraph((...xs) => {
    const all = [...leaves];
    dyn.forEach((j, k) => { all[j] = xs[k]; });
    const [outs, od] = treeFlatten(fn(...treeUnflatten<unknown[]>(def, all)));
    outDef = od;
    return outs.map((o) => {
      if (typeof o === 'number') return full([], o, 'float32');
      if (!isDyn(o)) throw new TraceError(`function returned a leaf of type ${typeof o}: return tensors`);
      return o;
    });
  }, dyn.map((j) => (avalFor ? avalFor(j) : avalOf(leaves[j] as Value))));
  return { graph, captured, leaves, def, dyn, outDef: outDef! };
}
