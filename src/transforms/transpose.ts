/**
 * Reverse mode = linearize, then transpose. The JVP graph is split into non-linear equations
 * (which depend only on primals: replayed forward) and linear ones (which depend on tangents:
 * walked backward with each primitive's transpose rule).
 */
import { TransformError } from '../core/errors.js';
import { type Atom, type Eqn, type Graph, Lit, Var } from '../core/ir.js';
import { ruleOf, Undefined, type Value } from '../core/primitive.js';
import { bind, readAtom, retap } from '../core/trace.js';
import { add } from '../ops/elementwise.js';
import { jvpGraph } from './jvp.js';
import { reshape, reshapeP, zerosOf } from '../ops/shape.js';

/** A graph split into its non-linear part (already evaluated) and its linear part (replayable). */
export interface Linearized {
  /** Values of the non-linear outputs (undefined for outputs that depend on linear inputs). */
  outs: (Value | undefined)[];
  /** Apply the linear part forward: values for the linear inputs → values of all outputs (null = zero). */
  apply(linearInputs: (Value | null)[]): (Value | null)[];
  /** Apply the linear part transposed: output cotangents → cotangents of the linear inputs (null = zero). */
  transpose(cts: (Value | null)[]): (Value | null)[];
}

/**
 * Split `g` at its linear inputs (`linear[i]`): the non-linear equations are evaluated now, in the
 * current trace, on `inputs`; the linear ones can then be applied (forward) or transposed as often
 * as needed — e.g. inside a solver loop, where the non-linear values are captured once.
 *
 * `known[j]`, where given, is the value of output j, computed before (a recorded forward pass):
 * the equations read it in place of the value they would compute, so that the computation becomes
 * dead and is pruned (see prune.ts) unless something else needs it.
 */
export function linearize(g: Graph, linear: readonly boolean[], inputs: readonly (Value | null)[], known?: readonly (Value | undefined)[]): Linearized {
  const isLin = new Set<Var>();
  const env = new Map<Var, Value>();
  g.inputs.forEach((v, i) => (linear[i] ? isLin.add(v) : env.set(v, inputs[i]!)));
  const given = new Map<Var, Value>();
  known?.forEach((k, j) => {
    const a = g.outputs[j];
    if (k !== undefined && a instanceof Var) given.set(a, k);
  });
  // a known reshape's input is known too (a cell on [B, ...] is solved as a map on [B, d])
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i]!;
    const k = e.prim === reshapeP ? given.get(e.outputs[0]!) : undefined;
    const x = e.inputs[0];
    if (k !== undefined && x instanceof Var && !given.has(x)) given.set(x, reshape(k, x.aval.shape));
  }
  const linEqns: Eqn[] = [];
  for (const e of g.eqns) {
    if (e.inputs.some((a) => a instanceof Var && isLin.has(a))) {
      e.outputs.forEach((v) => isLin.add(v));
      linEqns.push(e);
    } else {
      const outs = bind(e.prim, e.inputs.map((a) => readAtom(env, a)), e.params);
      e.outputs.forEach((v, i) => env.set(v, given.get(v) ?? outs[i]!));
    }
  }
  for (const t of g.taps) if (t.atoms.every((a) => !(a instanceof Var) || !isLin.has(a))) retap(t, (a) => readAtom(env, a));
  const linInputs = g.inputs.filter((_, i) => linear[i]);
  const read = (a: Atom, lenv: Map<Var, Value | null>) => (a instanceof Lit ? a.value : isLin.has(a) ? lenv.get(a) ?? null : env.get(a)!);

  const apply = (vals: (Value | null)[]) => {
    const lenv = new Map<Var, Value | null>();
    linInputs.forEach((v, i) => lenv.set(v, vals[i] ?? null));
    for (const e of linEqns) {
      const ins = e.inputs.map((a) => read(a, lenv));
      if (e.inputs.every((a, i) => !(a instanceof Var && isLin.has(a)) || ins[i] === null)) {
        e.outputs.forEach((v) => lenv.set(v, null));
        continue;
      }
      // a linear equation applied to a symbolic zero: materialise zeros so the primitive can run
      const filled = ins.map((x, i) => x ?? zerosOf(e.inputs[i]!.aval.shape, e.inputs[i]!.aval.dtype));
      const outs = bind(e.prim, filled, e.params);
      e.outputs.forEach((v, i) => lenv.set(v, outs[i]!));
    }
    return g.outputs.map((a) => (a instanceof Var && isLin.has(a) ? lenv.get(a) ?? null : null));
  };

  const transposeFn = (cts: (Value | null)[]) => {
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
      const rule = ruleOf(e.prim, 'transpose');
      if (!rule) {
        throw new TransformError(
          `reverse mode: ${e.prim.name} is applied to a tangent but has no transpose rule. ` +
            (e.prim.name === 'whileLoop'
              ? 'Reverse mode through whileLoop is not defined: use fixedPoint (implicit gradients) or a fixed unrolled loop.'
              : 'It is not a linear primitive.'),
        );
      }
      const ins = e.inputs.map((a) => (a instanceof Var && isLin.has(a) ? new Undefined(a.aval) : a instanceof Lit ? a.value : env.get(a)!));
      const inCts = rule(outCts, ins, e.params);
      e.inputs.forEach((a, i) => {
        if (a instanceof Var && isLin.has(a)) addCt(a, inCts[i] ?? null);
      });
    }
    return linInputs.map((v) => ctEnv.get(v) ?? null);
  };

  return {
    outs: g.outputs.map((a) => (a instanceof Var && isLin.has(a) ? undefined : readAtom(env, a))),
    apply,
    transpose: transposeFn,
  };
}

/** Evaluate the linear graph `g` transposed, in the current trace (see `linearize`). */
export function transposeInterpret(
  g: Graph,
  linear: readonly boolean[],
  inputs: readonly (Value | null)[],
  cts: readonly (Value | null)[],
  known?: readonly (Value | undefined)[],
): { outs: (Value | undefined)[]; inputCts: (Value | null)[] } {
  const lin = linearize(g, linear, inputs, known);
  const linCts = lin.transpose([...cts]);
  let k = 0;
  return { outs: lin.outs, inputCts: g.inputs.map((_, i) => (linear[i] ? linCts[k++]! : null)) };
}

/**
 * The VJP of `g` evaluated in the current trace: forward values of the outputs and the
 * cotangents of the inputs marked in `mask` (zeros where no gradient flows; null instead with
 * `symbolicZeros`). `known` gives outputs computed before, as in `linearize`.
 */
export function vjpInterpret(g: Graph, mask: readonly boolean[], primals: readonly Value[], cts: readonly (Value | null)[], known?: readonly (Value | undefined)[]): [Value[], Value[]];
export function vjpInterpret(g: Graph, mask: readonly boolean[], primals: readonly Value[], cts: readonly (Value | null)[], known: readonly (Value | undefined)[] | undefined, symbolicZeros: true): [Value[], (Value | null)[]];
export function vjpInterpret(g: Graph, mask: readonly boolean[], primals: readonly Value[], cts: readonly (Value | null)[], known?: readonly (Value | undefined)[], symbolicZeros = false): [Value[], (Value | null)[]] {
  const jg = jvpGraph(g, mask);
  const n = g.inputs.length;
  const nOut = g.outputs.length;
  const nTan = mask.filter(Boolean).length;
  const linear = [...Array(n).fill(false), ...Array(nTan).fill(true)];
  const { outs, inputCts } = transposeInterpret(jg, linear, [...primals, ...Array(nTan).fill(null)], [...Array(nOut).fill(null), ...cts], known);
  const tanAvals = jg.inputs.slice(n).map((v) => v.aval);
  const grads = inputCts.slice(n).map((c, i) => c ?? (symbolicZeros ? null : zerosOf(tanAvals[i]!.shape, tanAvals[i]!.dtype)));
  return [outs.slice(0, nOut) as Value[], grads];
}

