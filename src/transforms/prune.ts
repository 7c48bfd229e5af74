/**
 * Dead-equation removal as a graph → graph transform: equations none of whose outputs reach the
 * graph's outputs (or taps) are dropped, inside loop bodies too. Transforms bind more than a
 * result needs (a pullback replays the whole forward pass, a record nobody reads is still taken),
 * and onnxruntime runs every node of a Loop body on every trip, used or not. Sub-graphs keep
 * their inputs and outputs; only their equations are pruned.
 */
import { type Atom, type Eqn, type Graph, Var } from '../core/ir.js';

export function pruneGraph(g: Graph): Graph {
  const live = new Set<Var>();
  const mark = (a: Atom) => {
    if (a instanceof Var) live.add(a);
  };
  g.outputs.forEach(mark);
  for (const t of g.taps) t.atoms.forEach(mark);
  const kept: Eqn[] = [];
  let changed = false;
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    let e = g.eqns[i]!;
    if (!e.outputs.some((v) => live.has(v))) {
      changed = true;
      continue;
    }
    const subs = e.prim.subgraphs?.(e.params);
    if (subs && e.prim.withSubgraphs) {
      const pruned = subs.map(pruneGraph);
      if (pruned.some((p, j) => p !== subs[j])) {
        e = { ...e, params: e.prim.withSubgraphs(e.params, pruned) };
        changed = true;
      }
    }
    e.inputs.forEach(mark);
    kept.push(e);
  }
  return changed ? { ...g, eqns: kept.reverse() } : g;
}
