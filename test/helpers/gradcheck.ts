/**
 * Derivative checks in float64. One jitted graph per check computes, for inputs x, tangent
 * directions u and an output cotangent v:
 *   y = f(x), J u (by jvp), Jᵀ v (by vjp), f(x + eps u) and f(x - eps u),
 * so a check costs one ONNX session however many random directions it tries. From those:
 *   (a) J u against the central difference (f(x + eps u) - f(x - eps u)) / 2 eps,
 *   (b) ⟨v, J u⟩ against ⟨Jᵀ v, u⟩ (the dot-product identity),
 *   (c) ⟨Jᵀ v, u⟩ against ⟨v, central difference⟩.
 */
import { expect } from 'vitest';
import { jit, type JitOptions, jvp, np, Rng, Tensor, vjp, type Value } from '../../src/index.js';
import { traceGraph } from '../../src/core/trace.js';

export type Fn = (...xs: Value[]) => Value;

export interface GradCheckOptions {
  /** Finite-difference step (default 1e-5). */
  eps?: number;
  /** Random directions (u, v) to try (default 2). */
  directions?: number;
  seed?: number;
  /** Which arguments are differentiated (default: every float argument). Others get zero tangents. */
  wrt?: number[];
  /** Compile options of the checking graph (runtime, providers, contrib operators). */
  compile?: JitOptions;
}

export interface GradCheckReport {
  /** f at the given inputs. */
  value: Tensor;
  /** max relative error of J u against central differences, over directions. */
  jvpVsFd: number;
  /** max relative error of ⟨v, J u⟩ against ⟨Jᵀ v, u⟩. */
  dotIdentity: number;
  /** max relative error of ⟨Jᵀ v, u⟩ against ⟨v, central difference⟩. */
  vjpVsFd: number;
}

const asF64 = (t: Tensor): Float64Array => Float64Array.from(t.toArray());

export function dot(a: Tensor, b: Tensor): number {
  const x = asF64(a);
  const y = asF64(b);
  if (x.length !== y.length) throw new Error(`dot: sizes ${x.length} and ${y.length} differ`);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
}

/** max |a - b| / max(max |a|, max |b|): scale-free, and 0 when both are zero. */
export function relErr(a: Tensor | number, b: Tensor | number): number {
  const x = typeof a === 'number' ? [a] : a.toArray();
  const y = typeof b === 'number' ? [b] : b.toArray();
  if (x.length !== y.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]!) || Number.isNaN(y[i]!)) return Infinity;
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(x[i]!), Math.abs(y[i]!));
  }
  return diff === 0 ? 0 : diff / Math.max(scale, 1e-300);
}

function centralDifference(plus: Tensor, minus: Tensor, eps: number): Tensor {
  const p = asF64(plus);
  const m = asF64(minus);
  return new Tensor('float64', plus.shape, p.map((v, i) => (v - m[i]!) / (2 * eps)));
}

export async function gradCheck(f: Fn, args: Tensor[], opts: GradCheckOptions = {}): Promise<GradCheckReport> {
  const eps = opts.eps ?? 1e-5;
  const rng = new Rng(opts.seed ?? 1234);
  const wrt = opts.wrt ?? args.flatMap((a, i) => (a.dtype === 'float64' ? [i] : []));
  for (const i of wrt) {
    if (args[i]!.dtype !== 'float64') throw new Error(`gradCheck: argument ${i} is ${args[i]!.dtype}; checks run in float64`);
  }
  // Only the differentiated arguments are traced; the others are closed over as constants.
  const full = (xs: Value[]): Value[] => {
    const all: Value[] = [...args];
    wrt.forEach((j, k) => { all[j] = xs[k]!; });
    return all;
  };
  const g = (...xs: Value[]) => f(...full(xs));
  const checker = jit((xs: Value[], us: Value[], v: Value) => {
    const [y, ju] = jvp(g, xs, us) as [Value, Value];
    const [, pullback] = vjp(g, ...xs) as [Value, (ct: Value) => Value[]];
    const jtv = pullback(v);
    const plus = g(...xs.map((x, i) => np.add(x, np.mul(us[i]!, eps))));
    const minus = g(...xs.map((x, i) => np.sub(x, np.mul(us[i]!, eps))));
    return { y, ju, jtv, plus, minus };
  }, opts.compile);
  const xs = wrt.map((i) => args[i]!);
  const report: GradCheckReport = { value: undefined as unknown as Tensor, jvpVsFd: 0, dotIdentity: 0, vjpVsFd: 0 };
  // the output shape, from an abstract trace (no session needed)
  const outShape = traceGraph((...ts) => [g(...ts)], xs).graph.outputs[0]!.aval.shape;
  for (let d = 0; d < (opts.directions ?? 2); d++) {
    const us = xs.map((x) => rng.randn(x.shape, 'float64'));
    const v = rng.randn(outShape, 'float64');
    const r = (await checker(xs, us, v)) as { y: Tensor; ju: Tensor; jtv: Tensor[]; plus: Tensor; minus: Tensor };
    report.value = r.y;
    const fd = centralDifference(r.plus, r.minus, eps);
    const vJu = dot(v, r.ju);
    const jtvU = r.jtv.reduce((s, t, i) => s + dot(t, us[i]!), 0);
    report.jvpVsFd = Math.max(report.jvpVsFd, relErr(r.ju, fd));
    report.dotIdentity = Math.max(report.dotIdentity, relErr(vJu, jtvU));
    report.vjpVsFd = Math.max(report.vjpVsFd, relErr(jtvU, dot(v, fd)));
  }
  return report;
}

/** Run gradCheck and assert every error is within tol (default 1e-6); returns f(x). */
export async function expectGradsOk(f: Fn, args: Tensor[], opts: GradCheckOptions & { tol?: number } = {}): Promise<Tensor> {
  const r = await gradCheck(f, args, opts);
  const tol = opts.tol ?? 1e-6;
  expect(r.jvpVsFd, 'JVP vs finite differences').toBeLessThan(tol);
  expect(r.dotIdentity, '<v, Ju> vs <J^T v, u>').toBeLessThan(tol);
  expect(r.vjpVsFd, 'VJP vs finite differences').toBeLessThan(tol);
  return r.value;
}
