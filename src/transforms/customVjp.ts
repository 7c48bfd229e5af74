/**
 * customVjp(f, fwd, bwd): attach a user reverse-mode rule to f. Under linearization the call
 * becomes fwd (primal outputs and residuals) plus a linear primitive whose transpose is bwd, so
 * grad, vjp and jit all use the rule. Forward mode (jvp) of such a function is not defined.
 */
import { TransformError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import { definePrimitive, Undefined, type Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { avalOf, bind, evalGraph, traceGraph } from '../core/trace.js';
import { zerosLike } from '../ops/shape.js';

interface CallParams {
  primal: Graph;
  fwd: Graph;
  nResiduals: number;
  nOut: number;
  bwd: (residuals: Value[], cts: Value[]) => (Value | null)[];
  [k: string]: unknown;
}

const customVjpLinearP = definePrimitive<CallParams>({
  name: 'customVjpLinear',
  shape: (_, p) => p.primal.outputs.map((a) => a.aval),
  expand: () => {
    throw new TransformError('forward mode (jvp) through a customVjp function is not defined: it only has a reverse-mode rule');
  },
  transpose: (cts, ins, p) => {
    const residuals = ins.slice(0, p.nResiduals) as Value[];
    const tangentsIn = ins.slice(p.nResiduals);
    const outCts = cts.map((c, i) => c ?? zerosLike(p.primal.outputs[i]!.aval));
    const argCts = p.bwd(residuals, outCts as Value[]);
    return [...residuals.map(() => null), ...tangentsIn.map((t, i) => (t instanceof Undefined ? argCts[i] ?? null : null))];
  },
});

export const customVjpCallP = definePrimitive<CallParams>({
  name: 'customVjpCall',
  subgraphs: (p) => [p.primal, p.fwd],
  shape: (_, p) => p.primal.outputs.map((a) => a.aval),
  expand: (ins, p) => evalGraph(p.primal, ins),
  jvp: (primals, tangents, p) => {
    const all = evalGraph(p.fwd, primals);
    const outs = all.slice(0, p.nOut);
    const residuals = all.slice(p.nOut);
    const ts = tangents.map((t, i) => t ?? zerosLike(primals[i]!));
    const touts = bind(customVjpLinearP, [...residuals, ...ts], { ...p, nResiduals: residuals.length });
    return [outs, touts];
  },
});

export interface CustomVjpRule<A extends unknown[], R> {
  /** Returns [outputs, residuals]; residuals is a pytree of values saved for bwd. */
  fwd: (...args: A) => [unknown, R];
  /** Given residuals and the output cotangent (same structure as the outputs), returns one cotangent per argument. */
  bwd: (residuals: R, ct: any) => unknown[];
}

export function customVjp<A extends unknown[]>(f: (...args: A) => unknown, rule: CustomVjpRule<A, any>) {
  return (...args: A): any => {
    const [leaves, def] = treeFlatten<Value>(args);
    const avals = leaves.map(avalOf);
    let outDef: TreeDef | undefined;
    const primal = traceGraph((...xs) => {
      const [o, d] = treeFlatten<Value>(f(...treeUnflatten<A>(def, xs)));
      outDef = d;
      return o;
    }, avals);
    let resDef: TreeDef | undefined;
    let nOut = 0;
    const fwd = traceGraph((...xs) => {
      const [out, res] = rule.fwd(...treeUnflatten<A>(def, xs));
      const [o] = treeFlatten<Value>(out);
      const [r, rd] = treeFlatten<Value>(res);
      resDef = rd;
      nOut = o.length;
      return [...o, ...r];
    }, avals);
    if (primal.captured.length || fwd.captured.length) {
      throw new TransformError('customVjp: f and fwd must not close over traced values; pass them as arguments');
    }
    const bwd = (residuals: Value[], cts: Value[]) => {
      const argCts = rule.bwd(treeUnflatten(resDef!, residuals), treeUnflatten(outDef!, cts));
      return args.flatMap((a, i) => {
        const n = treeFlatten(a)[0].length;
        const c = treeFlatten<Value | null>(argCts[i] ?? null)[0];
        return Array.from({ length: n }, (_, j) => c[j] ?? null);
      });
    };
    const outs = bind(customVjpCallP, leaves, { primal: primal.graph, fwd: fwd.graph, nOut, nResiduals: 0, bwd });
    return treeUnflatten(outDef!, outs);
  };
}
