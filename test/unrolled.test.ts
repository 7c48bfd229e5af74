/**
 * backward: 'unrolled' backprops through the iterations that ran: its gradient is the derivative of
 * the solve's output (finite differences in float64, and the chain rule through hand-unrolled
 * iterations), the solve still exits early, and the graph does not grow with maxIter.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, grad, jit, jvp, np, Rng, Tensor, valueAndGrad, type Value } from '../src/index.js';

const rng = new Rng(6021);
const n = 8;
const batch = 3;
const x = rng.randn([batch, n], 'float64');
const r = rng.randn([batch, n], 'float64');
const W = rng.randn([n, n], 'float64', 0.3);
const cell = (z: Value, u: Value, w: Value) => np.tanh(np.add(np.matmul(z, w), u));

describe("backward: 'unrolled'", () => {
  for (const solver of ['forward', 'anderson', 'broyden'] as const) {
    it(`${solver}: matches central differences of the solve (float64, a fixed number of iterations)`, async () => {
      const loss = (w: Value, u: Value) => np.sum(np.mul(fixedPoint(cell, np.zerosLike(u), [u, w], { solver, tol: 0, maxIter: 6, backward: 'unrolled' }).value, r));
      const [gW, gx] = (await jit(grad(loss, { argnums: [0, 1] }))(W, x)) as Tensor[];
      const f = jit(loss);
      const eps = 1e-6;
      for (let d = 0; d < 3; d++) {
        const [uW, ux] = [rng.randn([n, n], 'float64'), rng.randn([batch, n], 'float64')];
        const shift = (t: Tensor, u: Tensor, s: number) => new Tensor('float64', t.shape, Float64Array.from(t.toArray(), (v, i) => v + s * u.toArray()[i]!));
        const fd = (((await f(shift(W, uW, eps), shift(x, ux, eps))) as Tensor).item() - ((await f(shift(W, uW, -eps), shift(x, ux, -eps))) as Tensor).item()) / (2 * eps);
        const dot = (a: Tensor, b: Tensor) => a.toArray().reduce((acc, v, i) => acc + v * b.toArray()[i]!, 0);
        const analytic = dot(gW!, uW) + dot(gx!, ux);
        expect(Math.abs(analytic - fd)).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
      }
    });
  }

  it('forward mode through it says what to use instead', async () => {
    const f = (w: Value) => fixedPoint(cell, np.zerosLike(x), [x, w], { solver: 'forward', maxIter: 6, backward: 'unrolled' }).value;
    await expect(jit((w: Value, u: Value) => jvp(f, [w], [u]))(W, W)).rejects.toThrow(/forward mode/);
  });

  it('forward iteration: the gradient of the chain z_k = f(z_{k-1}) from z_0 = 0, for the k the solve took', async () => {
    const opts = { solver: 'forward' as const, tol: 1e-6, maxIter: 300, backward: 'unrolled' as const };
    const loss = (w: Value) => {
      const { value, stats } = fixedPoint(cell, np.zerosLike(x), [x, w], opts);
      return [np.sum(np.mul(value, r)), stats.iterations];
    };
    const [[, iters], g] = (await jit(valueAndGrad(loss, { hasAux: true }))(W)) as [[Tensor, Tensor], Tensor];
    const k = iters.item();
    expect(k).toBeGreaterThan(5);
    expect(k).toBeLessThan(300); // it stopped early
    const chain = (w: Value) => {
      let z: Value = np.zerosLike(x);
      for (let i = 0; i < k; i++) z = cell(z, x, w);
      return np.sum(np.mul(z, r));
    };
    const ref = (await jit(grad(chain))(W)) as Tensor;
    const a = g.toArray(), b = ref.toArray();
    const scale = Math.max(...b.map(Math.abs));
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale).toBeLessThan(1e-12);
  });

  it('the training graph does not grow with maxIter', async () => {
    const size = async (maxIter: number) => {
      const loss = (w: Value) => np.sum(np.mul(fixedPoint(cell, np.zerosLike(x), [x, w], { solver: 'anderson', maxIter, backward: 'unrolled' }).value, r));
      return (await jit(grad(loss)).compile(W)).model.byteLength;
    };
    const [small, large] = [await size(20), await size(200)];
    expect(large).toBeLessThan(small * 1.05);
  });
});
