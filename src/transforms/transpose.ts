/**
 * Reverse mode = linearize, then transpose. The JVP graph is split into non-linear equations
 * (which depend only on primals: replayed forward) and linear ones (which depend on tangents:
 * walked backward with each primitive's transpose rule).
 */
import { TransformError } from '../core/errors.js';
import { type Aval, type Graph, Lit, Var } from '../core/ir.js';
import { Undefined, type Value } from '../core/primitive.js';
import { bind, readAtom, tap, traceGraph } from '../core/trace.js';
import { add } from '../ops/elementwise.js';
import { jvpGraph, zerosLike } from './jvp.js';
import { zerosOf } from '../ops/shape.js';

/**
 * Evaluate the linear graph `g` transposed, inside the current trace.
 * `linear[i]` marks the inputs that are linear (their values are unknown); `inputs[i]` gives the
 * others. `cts[j]` is the cotangent of output j (null = zero). Returns the non-linear outputs'
 * values (undefined for linear outputs) and the cotangents of the linear inputs (null = zero).
 */
export function transposeInterpret(
  g: Graph,
  linear: readonly boolean[],
  inputs: readonly (Value | null)[],
  cts: readonly (Value | null)[],
): { outs: (Value | undefined)[]; inputCts: (Value | null)[] } {
  const isLin = new Set<Var>();
  const env = new Map<Var, Value>();
  g.inputs.forEach((v, i) => (linear[i] ? isLin.add(v) : env.set(v, inputs[i]!)));
  const linEqns = [];
  for (const e of g.eqns) {
    if (e.inputs.some((a) => a instanceof Var && isLin.has(a))) {
      e.outputs.forEach((v) => isLin.add(v));
      linEqns.push(e);
    } else {
      const outs = bind(e.prim, e.inputs.map((a) => readAtom(env, a)), e.params);
      e.outputs.forEach((v, i) => env.set(v, outs[i]!));
    }
  }
  for (const t of g.taps) if (t.atoms.every((a) => !(a instanceof Var) || !isLin.has(a))) tap(t.label, t.atoms.map((a) => readAtom(env, a)));
  const ctEnv = new Map<Var, Value>();
  const addCt = (v: Var, ct: Value | null) => {
    if (!ct) return;
    const prev = ctEnv.get(v);
    ctEnv.set(v, prev ? add(prev, ct) : ct);
  };
  g.outputs.forEach((a, j) => {
    if (a instanceof Var && isLin.has(a)) addCt(a, cts[j] ?? null);
  });
  for (let k = linEqns.length - 1; k >= 0; k--) {
    const e = linEqns[k]!;
    const outCts = e.outputs.map((v) => ctEnv.get(v) ?? null);
    if (outCts.every((c) => c === null)) continue;
    if (!e.prim.transpose) {
      throw new TransformError(
        `reverse mode: ${e.prim.name} is applied to a tangent but has no transpose rule. ` +
          (e.prim.name === 'whileLoop'
            ? 'Reverse mode through whileLoop is not defined: use fixedPoint (implicit gradients) or a fixed unrolled loop.'
            : 'It is not a linear primitive.'),
      );
    }
    const ins = e.inputs.map((a) => (a instanceof Var && isLin.has(a) ? new Undefined(a.aval) : a instanceof Lit ? a.value : env.get(a)!));
    const inCts = e.prim.transpose(outCts, ins, e.params as never);
    e.inputs.forEach((a, i) => {
      if (a instanceof Var && isLin.has(a)) addCt(a, inCts[i] ?? null);
    });
  }
  return {
    outs: g.outputs.map((a) => (a instanceof Var && isLin.has(a) ? undefined : readAtom(env, a))),
    inputCts: g.inputs.map((v, i) => (linear[i] ? ctEnv.get(v) ?? null : null)),
  };
}

/**
 * The VJP of `g` evaluated in the current trace: forward values of the outputs and the
 * cotangents of the inputs marked in `mask` (zeros where no gradient flows).
 */
export function vjpInterpret(g: Graph, mask: readonly boolean[], primals: readonly Value[], cts: readonly (Value | null)[]): [Value[], Value[]] {
  const jg = jvpGraph(g, mask);
  const n = g.inputs.length;
  const nOut = g.outputs.length;
  const nTan = mask.filter(Boolean).length;
  const linear = [...Array(n).fill(false), ...Array(nTan).fill(true)];
  const { outs, inputCts } = transposeInterpret(jg, linear, [...primals, ...Array(nTan).fill(null)], [...Array(nOut).fill(null), ...cts]);
  const tanAvals = jg.inputs.slice(n).map((v) => v.aval);
  const grads = inputCts.slice(n).map((c, i) => c ?? zerosOf(tanAvals[i]!.shape, tanAvals[i]!.dtype));
  return [outs.slice(0, nOut) as Value[], grads];
}

/** The VJP graph: inputs [primals..., output cotangents...], outputs [outputs..., input cotangents (masked)...]. */
export function vjpGraph(g: Graph, mask: readonly boolean[]): Graph {
  const n = g.inputs.length;
  const avals: Aval[] = [...g.inputs.map((v) => v.aval), ...g.outputs.map((a) => a.aval)];
  return traceGraph((...xs) => {
    const [outs, grads] = vjpInterpret(g, mask, xs.slice(0, n), xs.slice(n));
    return [...outs, ...grads];
  }, avals).graph;
}

export { zerosLike };
