/**
 * The tutorial's gradient checks, in float64: the tanh Newton implicit layer and the DEQ over the
 * conv ResNet cell, implicit gradients against central finite differences; the forward-mode
 * implicit rule (jvp of a fixedPoint); and every backward linear solver giving the same gradient.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, jit, jvp, np, Rng, Tensor, valueAndGrad, type Value } from '../src/index.js';
import { gradCheck, relErr } from './helpers/gradcheck.js';

const rng = new Rng(20240);

/** nn.Linear's default init: uniform in ±1/√fan_in. */
const linearInit = (out: number, inp: number) => rng.uniform([out, inp], 'float64', -1 / Math.sqrt(inp), 1 / Math.sqrt(inp));

/** Central-difference gradient of a scalar function, one coordinate at a time. */
async function fdGrad(loss: (t: Tensor) => Promise<number>, x: Tensor, eps = 1e-6): Promise<Tensor> {
  const base = x.toArray();
  const out = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const at = (d: number) => new Tensor('float64', x.shape, Float64Array.from(base, (v, j) => (j === i ? v + d : v)));
    out[i] = ((await loss(at(eps))) - (await loss(at(-eps)))) / (2 * eps);
  }
  return new Tensor('float64', x.shape, out);
}

// The tutorial's TanhNewtonImplicitLayer(5): z = tanh(z Wᵀ + x), Newton from tanh(x), tol 1e-10.
const tanhCell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, np.mT(W)), x));
const newtonLayer = (x: Value, W: Value) =>
  fixedPoint(tanhCell, np.tanh(x), [x, W], { solver: 'newton', tol: 1e-10, maxIter: 50, backwardTol: 1e-13, backwardMaxIter: 200 });

describe('TanhNewtonImplicitLayer(5), batch 3 (the tutorial gradcheck)', () => {
  const W = linearInit(5, 5);
  const x = rng.randn([3, 5], 'float64');
  const r = rng.randn([3, 5], 'float64');
  const loss = (x: Value, W: Value) => {
    const { value, stats } = newtonLayer(x, W);
    return [np.sum(np.mul(value, r)), stats];
  };

  it('gradients of sum(out · r) w.r.t. x and W match central differences coordinate by coordinate', async () => {
    const vg = jit(valueAndGrad(loss, { argnums: [0, 1], hasAux: true }));
    const [[, stats], [gx, gW]] = (await vg(x, W)) as [[Tensor, Record<string, Tensor>], [Tensor, Tensor]];
    expect(stats.converged!.item()).toBe(1);
    expect(stats.iterations!.item()).toBeLessThan(10); // Newton: a handful of steps
    const value = jit((x: Value, W: Value) => loss(x, W)[0]);
    const at = async (xx: Tensor, WW: Tensor) => ((await value(xx, WW)) as Tensor).item();
    const fdX = await fdGrad((t) => at(t, W), x);
    const fdW = await fdGrad((t) => at(x, t), W);
    expect(relErr(gx, fdX)).toBeLessThan(1e-8);
    expect(relErr(gW, fdW)).toBeLessThan(1e-8);
    // the backward solve reports too
    const back = vg.lastTaps['fixedPoint.backward']![0]!;
    expect(back.converged!.item()).toBe(1);
  });

  it('JVP, VJP and finite differences agree in random directions (jvp is the forward-mode implicit rule)', async () => {
    const rep = await gradCheck((x, W) => newtonLayer(x, W).value, [x, W], { directions: 3 });
    expect(rep.jvpVsFd).toBeLessThan(1e-7);
    expect(rep.vjpVsFd).toBeLessThan(1e-7);
    expect(rep.dotIdentity).toBeLessThan(1e-10);
  });
});

// The tutorial's ResNetLayer(2, 2, num_groups=2): conv weights N(0, 0.01), GroupNorm with affine parameters.
const C = 2;
const groups = 2;
const resnetParams = () => ({
  conv1: rng.randn([C, C, 3, 3], 'float64', 0.01),
  conv2: rng.randn([C, C, 3, 3], 'float64', 0.01),
  n1w: rng.uniform([C], 'float64', 0.5, 1.5), n1b: rng.randn([C], 'float64', 0.1),
  n2w: rng.uniform([C], 'float64', 0.5, 1.5), n2b: rng.randn([C], 'float64', 0.1),
  n3w: rng.uniform([C], 'float64', 0.5, 1.5), n3b: rng.randn([C], 'float64', 0.1),
});
type ResNetParams = Record<keyof ReturnType<typeof resnetParams>, Value>;
const affineNorm = (x: Value, w: Value, b: Value) =>
  np.add(np.mul(np.groupNorm(x, groups), np.reshape(w, [1, -1, 1, 1])), np.reshape(b, [1, -1, 1, 1]));
/** norm3(relu(z + norm2(x + conv2(norm1(relu(conv1(z))))))) */
const resnetCell = (z: Value, x: Value, p: ResNetParams) => {
  const y = affineNorm(np.relu(np.conv2d(z, p.conv1, { padding: 1 })), p.n1w, p.n1b);
  return affineNorm(np.relu(np.add(z, affineNorm(np.add(x, np.conv2d(y, p.conv2, { padding: 1 })), p.n2w, p.n2b))), p.n3w, p.n3b);
};

describe('DEQ over ResNetLayer(2, 2, groups 2) with Anderson, x [1, 2, 3, 3]', () => {
  const p = resnetParams();
  const x = rng.randn([1, C, 3, 3], 'float64');
  const keys = Object.keys(p) as (keyof ResNetParams)[];
  const deq = (tol: number) => (x: Value, ...ps: Value[]) => {
    const params = Object.fromEntries(keys.map((k, i) => [k, ps[i]!])) as ResNetParams;
    return fixedPoint(resnetCell, np.zerosLike(x), [x, params], {
      solver: 'anderson', tol, maxIter: 500, backwardTol: Math.min(tol, 1e-12), backwardMaxIter: 500,
    }).value;
  };
  const args = [x, ...keys.map((k) => p[k] as Tensor)];

  it('gradient w.r.t. x at the tutorial tolerance 1e-10 and eps 1e-5: far inside its atol 1e-3', async () => {
    const rep = await gradCheck(deq(1e-10), args, { wrt: [0], eps: 1e-5 });
    // the forward solve's own error (≈1e-10) divided by eps bounds what the differences can resolve
    expect(rep.jvpVsFd).toBeLessThan(1e-4);
    expect(rep.vjpVsFd).toBeLessThan(1e-4);
    expect(rep.dotIdentity).toBeLessThan(1e-9);
    const stats = (await jit((x: Value, p: ResNetParams) => fixedPoint(resnetCell, np.zerosLike(x), [x, p], { solver: 'anderson', tol: 1e-10, maxIter: 500 }).stats)(x, p)) as Record<string, Tensor>;
    expect(stats.converged!.item()).toBe(1);
    expect(stats.relResidual!.item()).toBeLessThan(1e-10);
  });

  it('solved to 1e-13, the gradients of x and every parameter match central differences to 1e-6', async () => {
    // a small eps: norm1 normalises conv1's O(0.01) outputs, so the cell is strongly curved in conv1
    // and the differences carry an O(eps²) truncation error (≈5e-4 at eps 1e-5, 5e-6 at 1e-6)
    const rep = await gradCheck(deq(1e-13), args, { eps: 3e-7 });
    expect(rep.jvpVsFd).toBeLessThan(1e-6);
    expect(rep.vjpVsFd).toBeLessThan(1e-6);
    expect(rep.dotIdentity).toBeLessThan(1e-9);
  });
});

describe('forward mode and backward linear solvers', () => {
  const n = 6;
  const W = rng.randn([n, n], 'float64', 0.25);
  const x = rng.randn([4, n], 'float64');
  const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));

  it('jvp of a fixedPoint matches central differences of the solve', async () => {
    const solveZ = (x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], { solver: 'anderson', tol: 1e-13, maxIter: 200 }).value;
    const dx = rng.randn([4, n], 'float64');
    const dW = rng.randn([n, n], 'float64');
    const [, tangent] = (await jvp(solveZ, [x, W], [dx, dW])) as [Tensor, Tensor];
    const eps = 1e-6;
    const f = jit(solveZ);
    const shift = (a: Tensor, d: Tensor, s: number) => new Tensor('float64', a.shape, Float64Array.from(a.toArray(), (v, i) => v + s * d.toArray()[i]!));
    const plus = (await f(shift(x, dx, eps), shift(W, dW, eps))) as Tensor;
    const minus = (await f(shift(x, dx, -eps), shift(W, dW, -eps))) as Tensor;
    const fd = new Tensor('float64', plus.shape, Float64Array.from(plus.toArray(), (v, i) => (v - minus.toArray()[i]!) / (2 * eps)));
    expect(relErr(tangent, fd)).toBeLessThan(1e-8);
  });

  it("backwardSolver 'forward', 'anderson' and 'gmres' give the same gradient", async () => {
    const r = rng.randn([4, n], 'float64');
    const grads: Tensor[][] = [];
    for (const backwardSolver of ['forward', 'anderson', 'gmres'] as const) {
      const loss = (x: Value, W: Value) => {
        const { value } = fixedPoint(cell, np.zerosLike(x), [x, W], {
          solver: 'anderson', tol: 1e-13, maxIter: 200, backwardSolver, backwardTol: 1e-13, backwardMaxIter: 400,
        });
        return np.sum(np.mul(value, r));
      };
      const vg = jit(valueAndGrad(loss, { argnums: [0, 1] }));
      const [, g] = (await vg(x, W)) as [Tensor, Tensor[]];
      const back = vg.lastTaps['fixedPoint.backward']![0]!;
      expect(back.converged!.item(), `${backwardSolver} backward solve converged`).toBe(1);
      grads.push(g);
    }
    for (const g of grads.slice(1)) {
      expect(relErr(g[0]!, grads[0]![0]!)).toBeLessThan(1e-10);
      expect(relErr(g[1]!, grads[0]![1]!)).toBeLessThan(1e-10);
    }
  });
});
