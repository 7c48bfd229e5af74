/** Activation composites: values against their formulas in float64, derivatives, and no NaN gradients from the branches `where` discards. */
import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { erfSeries, expectClose, mapRef } from './helpers/reference.js';

const erf = erfSeries;
const softplus = (v: number) => Math.log1p(Math.exp(-Math.abs(v))) + Math.max(v, 0);

// [name, np function, reference]
const cases: [string, (x: Value) => Value, (v: number) => number][] = [
  ['leakyRelu', (x) => np.leakyRelu(x, 0.1), (v) => (v < 0 ? 0.1 * v : v)],
  ['elu', (x) => np.elu(x, 0.7), (v) => (v > 0 ? v : 0.7 * Math.expm1(v))],
  ['selu', (x) => np.selu(x), (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * Math.expm1(v))],
  ['celu', (x) => np.celu(x, 1.5), (v) => Math.max(0, v) + Math.min(0, 1.5 * Math.expm1(v / 1.5))],
  ['softplus', np.softplus, softplus],
  ['softsign', np.softsign, (v) => v / (1 + Math.abs(v))],
  ['hardSigmoid', (x) => np.hardSigmoid(x, 0.3, 0.4), (v) => Math.max(0, Math.min(1, 0.3 * v + 0.4))],
  ['hardSwish', np.hardSwish, (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5))],
  ['mish', np.mish, (v) => v * Math.tanh(softplus(v))],
  ['gelu', (x) => np.gelu(x), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))],
  ['gelu (tanh)', (x) => np.gelu(x, 'tanh'), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
  ['clip', (x) => np.clip(x, -0.4, 0.7), (v) => Math.min(Math.max(v, -0.4), 0.7)],
];

describe('activations', () => {
  const x = new Rng(24).randn([4, 5], 'float64', 1.5);
  for (const [name, f, ref] of cases) {
    it(`${name}: values and float64 derivatives`, async () => {
      expectClose((await jit(f)(x)) as Tensor, mapRef(x, ref), 1e-14);
      await expectGradsOk(f, [x]);
    });
  }

  it('softplus and elu stay finite, with finite gradients, far out', async () => {
    const far = new Tensor('float64', [4], Float64Array.from([-800, -40, 40, 800]));
    const loss = (x: Value) => np.sum(np.add(np.softplus(x), np.add(np.elu(x), np.celu(x))));
    const [y, g] = (await jit((x: Value) => [loss(x), grad(loss)(x) as Value])(far)) as Tensor[];
    expect(Number.isFinite(y!.item())).toBe(true);
    expect(g!.toArray().every(Number.isFinite)).toBe(true);
    // d softplus = sigmoid: 0 and 1 at the ends; d elu = exp(x) or 1; d celu likewise
    expect(g!.toArray().map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0, 0, 3, 3]);
  });

  it('the derivative at 0 is the one-sided limit of the smooth branch', async () => {
    const zero = new Tensor('float64', [1], Float64Array.from([0]));
    const d = async (f: (x: Value) => Value) => ((await grad((x: Value) => np.sum(f(x)))(zero)) as Tensor).item();
    expect(await d(np.softplus)).toBeCloseTo(0.5, 15);
    expect(await d((x) => np.elu(x, 0.7))).toBeCloseTo(0.7, 15);
  });
});
