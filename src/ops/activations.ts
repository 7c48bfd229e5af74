/**
 * Activation functions written from primitives (their derivatives follow from the primitives'
 * rules). Branches that would overflow are evaluated on clamped inputs, so that the branch `where`
 * discards cannot send an Inf · 0 = NaN into the reverse pass.
 */
import type { Value } from '../core/primitive.js';
import { type ArrayLike, lift } from './util.js';
import { abs, add, div, exp, greater, less, log, maximum, minimum, mul, sub, tanh, where } from './elementwise.js';
import { erf } from './special.js';

/** Elementwise clamp to [lo, hi] (either bound may be left out); ties pass the derivative to x. */
export function clip(x: Value, lo?: ArrayLike, hi?: ArrayLike): Value {
  let y = x;
  if (lo !== undefined) y = maximum(y, lift(x, lo)[1]!);
  if (hi !== undefined) y = minimum(y, lift(x, hi)[1]!);
  return y;
}

/** x for x ≥ 0, alpha·x below. */
export const leakyRelu = (x: Value, alpha = 0.01): Value => where(less(x, 0), mul(x, alpha), x);

/** x for x > 0, alpha·(exp(x) − 1) otherwise. */
export const elu = (x: Value, alpha = 1): Value => where(greater(x, 0), x, mul(sub(exp(minimum(x, 0)), 1), alpha));

/** Scaled ELU: gamma·elu(x, alpha), with the self-normalising constants by default. */
export const selu = (x: Value, alpha = 1.6732632423543772, gamma = 1.0507009873554805): Value => mul(elu(x, alpha), gamma);

/** Continuously differentiable ELU: max(0, x) + min(0, alpha·(exp(x/alpha) − 1)). */
export const celu = (x: Value, alpha = 1): Value =>
  where(greater(x, 0), x, mul(sub(exp(div(minimum(x, 0), alpha)), 1), alpha));

/** log(1 + exp(x)), without overflow for large x. */
export function softplus(x: Value): Value {
  const positive = add(x, log(add(exp(mul(maximum(x, 0), -1)), 1)));
  const negative = log(add(exp(minimum(x, 0)), 1));
  return where(greater(x, 0), positive, negative);
}

/** x / (1 + |x|). */
export const softsign = (x: Value): Value => div(x, add(abs(x), 1));

/** max(0, min(1, alpha·x + beta)). */
export const hardSigmoid = (x: Value, alpha = 0.2, beta = 0.5): Value => clip(add(mul(x, alpha), beta), 0, 1);

/** x · hardSigmoid(x, 1/6, 1/2). */
export const hardSwish = (x: Value): Value => mul(x, hardSigmoid(x, 1 / 6, 0.5));

/** x · tanh(softplus(x)). */
export const mish = (x: Value): Value => mul(x, tanh(softplus(x)));

/**
 * Gaussian error linear unit x·Φ(x): exact (erf), or with the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 */
export function gelu(x: Value, approximate: 'none' | 'tanh' = 'none'): Value {
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
