/**
 * Expansion as a graph → graph transform: every primitive without an ONNX lowering (fixedPoint,
 * linearSolve, solve, customVjp/customJvp calls, ...) is replaced by the primitives its `expand`
 * rule binds, recursively and inside loop bodies too. jit and export run it before lowering, so the
 * graph they hold (and a user prints) is the graph that runs, and the backend knows no solver.
 */
import { TraceError } from '../core/errors.js';
import type { Graph, Params } from '../core/ir.js';
import { type Primitive, ruleOf, type Value } from '../core/primitive.js';
import { avalOf, bind, evalGraph, traceGraph } from '../core/trace.js';

/** True when `g` (or a sub-graph in it) holds a primitive that must be expanded. */
function needsExpansion(g: Graph): boolean {
  return g.eqns.some((e) => !ruleOf(e.prim, 'lower') || (e.prim.subgraphs?.(e.params).some(needsExpansion) ?? false));
}

/** Bind `prim` in the current trace with its sub-graphs expanded, or inline its expansion. */
function expandEqn(prim: Primitive, ins: Value[], params: Params): Value[] {
  if (ruleOf(prim, 'lower')) {
    const subs = prim.subgraphs?.(params);
    if (!subs || !subs.some(needsExpansion)) return bind(prim, ins, params);
    if (!prim.withSubgraphs) throw new TraceError(`internal: ${prim.name} carries sub-graphs but cannot rebuild its params with expanded ones`);
    return bind(prim, ins, prim.withSubgraphs(params, subs.map(expandGraph)));
  }
  const rule = ruleOf(prim, 'expand');
  if (!rule) throw new TraceError(`primitive ${prim.name} has neither an ONNX lowering nor an expansion, so it cannot be compiled`);
  // trace the expansion on its own, expand that graph in turn, and inline the result
  const sub = traceGraph((...xs) => rule(xs, params), ins.map(avalOf));
  if (sub.captured.length) throw new TraceError(`internal: the expansion of ${prim.name} closed over outer values`);
  return evalGraph(expandGraph(sub.graph), ins);
}

/** `g` with every primitive lowered or expanded into primitives that are (taps kept). */
export function expandGraph(g: Graph): Graph {
  if (!needsExpansion(g)) return g;
  return traceGraph((...xs) => evalGraph(g, xs, expandEqn), g.inputs.map((v) => v.aval)).graph;
}
