/** Forward mode as a graph → graph transform: each equation is replaced by its JVP rule. */
import { isFloat } from '../core/dtype.js';
import { TransformError } from '../core/errors.js';
import { type Graph, Var, type Aval } from '../core/ir.js';
import { ruleOf, type Value } from '../core/primitive.js';
import { bind, readAtom, retap, traceGraph } from '../core/trace.js';
import { zerosLike } from '../ops/shape.js';

/**
 * Interpret `g` on primals and tangents (null = symbolic zero) inside the current trace.
 * Returns primal outputs and output tangents (null where the tangent is zero).
 */
export function jvpInterpret(g: Graph, primals: readonly Value[], tangents: readonly (Value | null)[]): [Value[], (Value | null)[]] {
  const env = new Map<Var, Value>();
  const tenv = new Map<Var, Value>();
  g.inputs.forEach((v, i) => {
    env.set(v, primals[i]!);
    const t = tangents[i];
    if (t) tenv.set(v, t);
  });
  const readT = (a: unknown) => (a instanceof Var ? tenv.get(a) ?? null : null);
  for (const e of g.eqns) {
    const ins = e.inputs.map((a) => readAtom(env, a));
    const tins = e.inputs.map(readT);
    let outs: Value[];
    let touts: (Value | null)[];
    if (e.prim.nondifferentiable || tins.every((t) => t === null)) {
      outs = bind(e.prim, ins, e.params);
      touts = outs.map(() => null);
    } else {
      const rule = ruleOf(e.prim, 'jvp');
      if (!rule) throw new TransformError(`jvp: primitive ${e.prim.name} has no JVP rule, so it cannot be differentiated`);
      [outs, touts] = rule(ins, tins, e.params);
    }
    e.outputs.forEach((v, i) => {
      env.set(v, outs[i]!);
      const t = touts[i];
      if (t && isFloat(v.aval.dtype)) tenv.set(v, t);
    });
  }
  for (const t of g.taps) retap(t, (a) => readAtom(env, a));
  return [g.outputs.map((a) => readAtom(env, a)), g.outputs.map(readT)];
}

/**
 * The JVP graph of `g`: inputs [primals..., tangents of the inputs where mask is true],
 * outputs [primal outputs..., output tangents...] (zeros where the tangent is symbolically zero).
 */
export function jvpGraph(g: Graph, mask: readonly boolean[]): Graph {
  const avals: Aval[] = [...g.inputs.map((v) => v.aval), ...g.inputs.filter((_, i) => mask[i]).map((v) => v.aval)];
  const n = g.inputs.length;
  const { graph, captured } = traceGraph((...xs) => {
    const primals = xs.slice(0, n);
    let k = n;
    const tangents = mask.map((m) => (m ? xs[k++]! : null));
    const [outs, touts] = jvpInterpret(g, primals, tangents);
    return [...outs, ...touts.map((t, i) => t ?? zerosLike(outs[i]!))];
  }, avals);
  if (captured.length) throw new TransformError('internal: jvpGraph captured outer values');
  return graph;
}
