/**
 * erf, the error function: a primitive because no composite of the other primitives reaches
 * float64 accuracy at a reasonable size. float32 lowers to ONNX Erf; onnxruntime has no float64
 * Erf kernel, so float64 lowers to piecewise polynomials (Mul/Add/Exp/Where) fitted by
 * scripts/fit-erf.py, which measures them at 2.2e-16 largest relative error. Its derivative,
 * 2/√π·exp(−x²), is exact in both dtypes whatever the lowering.
 */
import type { LowerCtx } from '../core/primitive.js';
import { definePrimitive, type Value } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { exp, mul, neg } from './elementwise.js';
import { requireFloat } from './util.js';

// scripts/fit-erf.py: highest power first
const SMALL = [5.957176147748911e-11, -1.1372848856791674e-09, 1.4659775274047436e-08, -1.6350312701054695e-07, 1.6461000484121368e-06, -1.4925595266831182e-05, 0.0001205533111164271, -0.000854832698083379, 0.0052239776248180145, -0.026866170645076792, 0.11283791670954879, -0.3761263890318375, 1.1283791670955126];
const MIDDLE = [-9.112420747968596e-12, 4.8546206397191835e-11, -2.1245086396244978e-10, 1.0771290313630326e-09, -5.413557157390592e-09, 2.6214568079487618e-08, -1.236603545911042e-07, 5.680082501519666e-07, -2.5345107841273393e-06, 1.0962896542159193e-05, -4.585616713646622e-05, 0.0001849560777696111, -0.0007168914456118457, 0.002659179124249122, -0.009390935492460326, 0.03136704192398451, -0.0982322591358639, 0.2849722347374364];
const TAIL = [-1.8530182592923917e-10, 6.329085790364518e-10, -1.2121141224193404e-09, 3.982612340622487e-09, -1.489159469435947e-08, 4.811569479257704e-08, -1.512054146159279e-07, 4.756042569494637e-07, -1.4774220529530982e-06, 4.520785299258613e-06, -1.3631758818512305e-05, 4.048622175194323e-05, -0.0001183541816153721, 0.00034031162216463024, -0.0009617329803592854, 0.0026690037164087874, -0.007266954317454398, 0.019391340463755766, -0.0506525799755768, 0.1293452747859878];

/** Horner's rule in ONNX nodes. */
function horner(ctx: LowerCtx, coefficients: readonly number[], s: string): string {
  const c = (v: number) => ctx.scalar(v, 'float64');
  let r = c(coefficients[0]!);
  for (const k of coefficients.slice(1)) r = ctx.op('Add', [ctx.op('Mul', [r, s]), c(k)]);
  return r;
}

function lowerErf64(ctx: LowerCtx, x: string): string {
  const c = (v: number) => ctx.scalar(v, 'float64');
  const clamp = (v: string, lo: number, hi: number) => ctx.op('Min', [ctx.op('Max', [v, c(lo)]), c(hi)]);
  const a = ctx.op('Abs', [x]);
  // |x| <= 1: x · A(x²), evaluated on x clamped to [-1, 1] so that other lanes cannot overflow
  const xs = clamp(x, -1, 1);
  const small = ctx.op('Mul', [xs, horner(ctx, SMALL, ctx.op('Mul', [xs, xs]))]);
  // |x| > 1: sign(x) (1 − exp(−x²) Q(|x|)), with |x| clamped to 6 (erfc(6) < 2.2e-17 rounds away)
  const at = clamp(a, 1, 6);
  const sMid = ctx.op('Div', [ctx.op('Sub', [clamp(at, 1, 2.5), c(1.75)]), c(0.75)]);
  const sTail = ctx.op('Div', [ctx.op('Sub', [clamp(at, 2.5, 6), c(4.25)]), c(1.75)]);
  const q = ctx.op('Where', [ctx.op('Less', [at, c(2.5)]), horner(ctx, MIDDLE, sMid), horner(ctx, TAIL, sTail)]);
  const erfc = ctx.op('Mul', [ctx.op('Exp', [ctx.op('Neg', [ctx.op('Mul', [at, at])])]), q]);
  const large = ctx.op('Mul', [ctx.op('Sign', [x]), ctx.op('Sub', [c(1), erfc])]);
  return ctx.op('Where', [ctx.op('Greater', [a, c(1)]), large, small]);
}

export const erfP = definePrimitive({
  name: 'erf',
  shape: ([x]) => {
    requireFloat('erf', x!);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  lower: (ctx, [x], _p, info) => [info.inAvals[0]!.dtype === 'float64' ? lowerErf64(ctx, x!) : ctx.op('Erf', [x!])],
  jvp: ([x], [dx]) => [[erf(x!)], [dx && mul(dx, mul(exp(neg(mul(x!, x!))), 2 / Math.sqrt(Math.PI)))]],
  batch: ([x], [d]) => [[erf(x!)], [d!]],
});

/** The error function, elementwise: erf(x) = 2/√π ∫₀ˣ exp(−t²) dt. */
export const erf = (x: Value): Value => bind1(erfP, [x]);
