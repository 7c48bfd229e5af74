/**
 * Expansion as a graph → graph transform: every primitive without an ONNX lowering (fixedPoint,
 * linearSolve, solve, customVjp/customJvp calls, ...) is replaced by the primitives its `expand`
 * rule binds, recursively and inside loop bodies too. jit and export run it before lowering, so the
 * graph they hold (and a user prints) is the graph that runs, and the backend knows no solver.
 */
import { TraceError } from '../core/errors.js';
import type { Graph, Params } from '../core/ir.js';
import { PORTABLE_TARGET, type Primitive, ruleOf, type Target, type Value } from '../core/primitive.js';
import { avalOf, bind, evalGraph, traceGraph } from '../core/trace.js';

/** A primitive this target lowers directly (it has a lowering, and the target has its operators). */
const lowers = (prim: Primitive, target: Target): boolean => !!ruleOf(prim, 'lower') && (!prim.contrib || target.contribOps);

/** True when `g` (or a sub-graph in it) holds a primitive that must be expanded. */
function needsExpansion(g: Graph, target: Target): boolean {
  return g.eqns.some((e) => !lowers(e.prim, target) || (e.prim.subgraphs?.(e.params).some((s) => needsExpansion(s, target)) ?? false));
}

/** Bind `prim` in the current trace with its sub-graphs expanded, or inline its expansion. */
function expandEqn(prim: Primitive, ins: Value[], params: Params, target: Target): Value[] {
  if (lowers(prim, target)) {
    const subs = prim.subgraphs?.(params);
    // expandGraph hands back a graph with nothing to expand as it is
    const expanded = subs?.map((s) => expandGraph(s, target));
    if (!subs || expanded!.every((s, i) => s === subs[i])) return bind(prim, ins, params);
    if (!prim.withSubgraphs) throw new TraceError(`internal: ${prim.name} carries sub-graphs but cannot rebuild its params with expanded ones`);
    return bind(prim, ins, prim.withSubgraphs(params, expanded!));
  }
  const rule = ruleOf(prim, 'expand');
  if (!rule) throw new TraceError(`primitive ${prim.name} has neither an ONNX lowering${prim.contrib ? ' in standard ONNX' : ''} nor an expansion, so it cannot be compiled`);
  // trace the expansion on its own, expand that graph in turn, and inline the result
  const sub = traceGraph((...xs) => rule(xs, params, target), ins.map(avalOf));
  if (sub.captured.length) throw new TraceError(`internal: the expansion of ${prim.name} closed over outer values`);
  return evalGraph(expandGraph(sub.graph, target), ins);
}

/**
 * `g` with every primitive lowered or expanded into primitives that are (taps kept), for a
 * target (default: standard ONNX only).
 */
export function expandGraph(g: Graph, target: Target = PORTABLE_TARGET): Graph {
  if (!needsExpansion(g, target)) return g;
  const apply = (prim: Primitive, ins: Value[], params: Params) => expandEqn(prim, ins, params, target);
  return traceGraph((...xs) => evalGraph(g, xs, apply), g.inputs.map((v) => v.aval)).graph;
}
