/**
 * Staging a function for compilation, shared by jit and ONNX export: trace it on its arguments'
 * tensor leaves, turn its taps (solver statistics) into trailing outputs, expand every primitive
 * that has no lowering and drop the equations no output needs. The result is the whole graph that
 * will run.
 */
import { TraceError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import type { Target } from '../core/primitive.js';
import type { TreeDef } from '../core/pytree.js';
import { expandGraph } from './expand.js';
import { pruneGraph } from './prune.js';
import { traceArgs } from './traceArgs.js';

export interface Staged {
  /** Outputs: the function's leaves, then every tap's values in order. No taps of its own. */
  graph: Graph;
  outDef: TreeDef;
  /** How many outputs are the function's own (the rest are taps). */
  nOut: number;
  taps: { label: string; names: readonly string[] }[];
  /** Indices of the argument leaves that are graph inputs (tensors; numbers are static). */
  dynamic: number[];
}

/**
 * Stage `fn` on `args` for a target (default: standard ONNX only, as exported files are); `caller`
 * (jit, exportOnnx) names the compiling transform in errors.
 */
export function stage(fn: (...args: any[]) => unknown, args: unknown[], caller: string, target?: Target): Staged {
  const { graph: g, captured, outDef, dyn } = traceArgs(fn, args);
  if (captured.length) throw new TraceError(`${caller}: the function closed over a traced value from an enclosing transform; pass it as an argument`);
  const withTaps: Graph = { ...g, outputs: [...g.outputs, ...g.taps.flatMap((t) => t.atoms)], taps: [] };
  return {
    graph: pruneGraph(expandGraph(withTaps, target)),
    outDef,
    nOut: g.outputs.length,
    taps: g.taps.map((t) => ({ label: t.label, names: t.names })),
    dynamic: dyn,
  };
}
