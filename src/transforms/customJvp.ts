/**
 * customJvp(f, rule): attach a user forward-mode rule to f. The rule receives primal and tangent
 * arguments (zeros where a tangent is absent) and returns [outputs, output tangents]. Reverse mode
 * follows by transposing the rule, so its tangent output must be linear in the tangents — as it is
 * for any rule written with np ops applied to tangents and primal-only factors.
 */
import { TransformError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import { definePrimitive, type Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { avalOf, bind, evalGraph, traceGraph } from '../core/trace.js';
import { zerosLike } from '../ops/shape.js';

interface CallParams {
  primal: Graph;
  argDef: TreeDef;
  outDef: TreeDef;
  rule: (primals: unknown[], tangents: unknown[]) => [unknown, unknown];
  [k: string]: unknown;
}

export const customJvpCallP = definePrimitive<CallParams>({
  name: 'customJvpCall',
  subgraphs: (p) => [p.primal],
  shape: (_, p) => p.primal.outputs.map((a) => a.aval),
  expand: (ins, p) => evalGraph(p.primal, ins),
  jvp: (primals, tangents, p) => {
    const ts = tangents.map((t, i) => t ?? zerosLike(primals[i]!));
    const [out, tout] = p.rule(treeUnflatten(p.argDef, primals), treeUnflatten(p.argDef, ts));
    const [outs] = treeFlatten<Value>(out);
    const [touts] = treeFlatten<Value>(tout);
    if (outs.length !== p.primal.outputs.length || touts.length !== outs.length) {
      throw new TransformError('customJvp: the rule must return [outputs, tangents] with the structure of f\'s outputs');
    }
    return [outs, touts];
  },
});

export function customJvp<A extends unknown[]>(f: (...args: A) => unknown, rule: (primals: A, tangents: A) => [unknown, unknown]) {
  return (...args: A): any => {
    const [leaves, argDef] = treeFlatten<Value>(args);
    let outDef: TreeDef | undefined;
    const primal = traceGraph((...xs) => {
      const [o, d] = treeFlatten<Value>(f(...treeUnflatten<A>(argDef, xs)));
      outDef = d;
      return o;
    }, leaves.map(avalOf));
    if (primal.captured.length) throw new TransformError('customJvp: f must not close over traced values; pass them as arguments');
    const outs = bind(customJvpCallP, leaves, { primal: primal.graph, argDef, outDef: outDef!, rule: rule as CallParams['rule'] });
    return treeUnflatten(outDef!, outs);
  };
}
