/** Transforms composed: higher-order derivatives, jvp of vjp, vjp of jit, argnums / hasAux, pytrees, jit caching. */
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, Rng, tensor, type Tensor, valueAndGrad, vjp, type Value } from '../src/index.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { expectClose, f64, mapRef, matmulRef, transposeRef, values } from './helpers/reference.js';

const rng = new Rng(71);
const cube = (x: Value) => np.mul(np.mul(x, x), x);
/** f(x) = Σ tanh(x)³; with t = tanh x, s = 1 - t²: f' = 3t²s, f'' = 6ts² - 6t³s. */
const f = (x: Value) => np.sum(cube(np.tanh(x)));
const d1 = (x: number) => { const t = Math.tanh(x); return 3 * t * t * (1 - t * t); };
const d2 = (x: number) => { const t = Math.tanh(x); const s = 1 - t * t; return 6 * t * s * s - 6 * t ** 3 * s; };

describe('higher-order derivatives', () => {
  it('grad(grad(f)) on a scalar input matches the analytic second derivative', async () => {
    const x = tensor(0.7, 'float64');
    const g1 = (await grad(f)(x)) as Tensor;
    const g2 = (await grad(grad(f))(x)) as Tensor;
    expect(g1.item()).toBeCloseTo(d1(0.7), 14);
    expect(g2.item()).toBeCloseTo(d2(0.7), 13);
  });

  it('grad of a summed gradient gives the Hessian diagonal of a separable function', async () => {
    const x = rng.randn([5], 'float64');
    const h = (await grad((x: Value) => np.sum(grad(f)(x) as Value))(x)) as Tensor;
    expectClose(h, mapRef(x, d2), 1e-13);
  });

  it('third derivative of x⁴ through pow', async () => {
    const x = tensor(1.3, 'float64');
    const p4 = (x: Value) => np.pow(x, 4);
    const d3 = (await grad(grad(grad(p4)))(x)) as Tensor;
    expect(d3.item()).toBeCloseTo(24 * 1.3, 11);
  });

  it('jvp of a vjp is a Hessian-vector product', async () => {
    // f(x) = Σ tanh(W x): ∇f = Wᵀ s, H = Wᵀ diag(-2 t s) W with t = tanh(W x), s = 1 - t²
    const W = rng.randn([4, 3], 'float64', 0.5);
    const x = rng.randn([3], 'float64');
    const u = rng.randn([3], 'float64');
    const fw = (x: Value) => np.sum(np.tanh(np.matmul(W, x)));
    const gradByVjp = (x: Value) => {
      const [, pullback] = vjp(fw, x) as [Value, (ct: Value) => Value[]];
      return pullback(tensor(1, 'float64'))[0]!;
    };
    const [g, hu] = (await jvp(gradByVjp, [x], [u])) as Tensor[];
    const t = values(matmulRef(W, f64([3, 1], values(x)))).map(Math.tanh);
    const Wu = values(matmulRef(W, f64([3, 1], values(u))));
    const inner = f64([1, 4], t.map((ti, i) => -2 * ti * (1 - ti * ti) * Wu[i]!));
    expectClose(hu!, f64([3], values(matmulRef(inner, W))), 1e-13);
    expectClose(g!, f64([3], values(matmulRef(f64([1, 4], t.map((ti) => 1 - ti * ti)), W))), 1e-13);
  });

  it('gradient of a gradient-norm penalty passes the finite-difference checks', async () => {
    const W = rng.randn([3, 3], 'float64', 0.5);
    const inner = grad((x: Value) => np.sum(np.sigmoid(np.matmul(x, W))));
    await expectGradsOk((x) => { const g = inner(x) as Value; return np.sum(np.mul(g, g)); }, [rng.randn([2, 3], 'float64')]);
  });
});

describe('transforms of jitted functions', () => {
  it('vjp and grad of a jit-ed function', async () => {
    const W = rng.randn([3, 3], 'float64', 0.5);
    const jf = jit((x: Value) => np.tanh(np.matmul(x, W)));
    const x = rng.randn([2, 3], 'float64');
    const ct = rng.randn([2, 3], 'float64');
    const [y, pullback] = (await vjp(jf, x)) as [Tensor, (ct: Tensor) => Promise<Tensor[]>];
    const [gx] = await pullback(ct);
    // dx = (ct ⊙ (1 - y²)) Wᵀ
    const inner = f64([2, 3], values(ct).map((c, i) => c * (1 - values(y)[i]! ** 2)));
    const Wt = f64([3, 3], [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => values(W)[j * 3 + i]!)));
    expectClose(gx!, matmulRef(inner, Wt), 1e-13);
    const g = (await grad((x: Value) => np.sum(np.mul(jf(x) as Value, ct)))(x)) as Tensor;
    expectClose(g, gx!, 1e-14);
  });

  it('jit of grad equals grad called directly', async () => {
    const x = rng.randn([4], 'float64');
    const a = (await jit(grad(f))(x)) as Tensor;
    const b = (await grad(f)(x)) as Tensor;
    expectClose(a, mapRef(x, d1), 1e-14);
    expect(values(a)).toEqual(values(b));
  });
});

describe('grad options and pytrees', () => {
  it('argnums picks arguments; hasAux passes aux through', async () => {
    const a = rng.randn([3], 'float64');
    const b = rng.randn([3], 'float64');
    const c = rng.randn([3], 'float64');
    const loss = (a: Value, b: Value, c: Value) => {
      const prod = np.mul(np.mul(a, b), c);
      return [np.sum(prod), { doubled: np.mul(prod, 2) }];
    };
    const [[value, aux], grads] = (await valueAndGrad(loss, { argnums: [0, 2], hasAux: true })(a, b, c)) as [[Tensor, { doubled: Tensor }], Tensor[]];
    const prod = values(a).map((v, i) => v * values(b)[i]! * values(c)[i]!);
    expect(value.item()).toBeCloseTo(prod.reduce((s, v) => s + v), 14);
    expect(values(aux.doubled)).toEqual(prod.map((v) => 2 * v));
    expect(grads).toHaveLength(2);
    expectClose(grads[0]!, f64([3], values(b).map((v, i) => v * values(c)[i]!)));
    expectClose(grads[1]!, f64([3], values(a).map((v, i) => v * values(b)[i]!)));
    const [g1, aux1] = (await grad(loss, { argnums: 1, hasAux: true })(a, b, c)) as [Tensor, { doubled: Tensor }];
    expectClose(g1, f64([3], values(a).map((v, i) => v * values(c)[i]!)));
    expect(values(aux1.doubled)).toEqual(values(aux.doubled));
  });

  it('nested parameter objects in, gradients of the same structure out', async () => {
    const params = {
      enc: { W: rng.randn([3, 4], 'float64', 0.5), b: rng.randn([4], 'float64') },
      layers: [{ W: rng.randn([4, 2], 'float64', 0.5) }, { scale: tensor(1.5, 'float64') }],
    };
    const x = rng.randn([2, 3], 'float64');
    type P = typeof params;
    const model = (p: P, x: Value) => {
      const h = np.tanh(np.add(np.matmul(x, p.enc.W as Value), p.enc.b as Value));
      return np.mul(np.sum(np.mul(np.matmul(h, p.layers[0]!.W as Value), np.matmul(h, p.layers[0]!.W as Value))), (p.layers[1] as { scale: Value }).scale);
    };
    const g = (await grad(model)(params, x)) as P;
    expect(Object.keys(g).sort()).toEqual(['enc', 'layers']);
    expect([...g.enc.W.shape]).toEqual([3, 4]);
    expect([...g.enc.b.shape]).toEqual([4]);
    expect([...(g.layers[0] as { W: Tensor }).W.shape]).toEqual([4, 2]);
    // every leaf against a central difference along a random direction
    const fwd = jit(model);
    const leaves: [Tensor, Tensor][] = [[params.enc.W, g.enc.W], [params.enc.b, g.enc.b], [params.layers[0]!.W!, (g.layers[0] as { W: Tensor }).W], [(params.layers[1] as { scale: Tensor }).scale, (g.layers[1] as { scale: Tensor }).scale]];
    for (const [leaf, gl] of leaves) {
      const u = rng.randn(leaf.shape, 'float64');
      const d = leaf.data as Float64Array;
      const orig = Float64Array.from(d);
      const at = async (s: number) => { d.set(orig.map((v, i) => v + s * values(u)[i]!)); return ((await fwd(params, x)) as Tensor).item(); };
      const fd = ((await at(1e-5)) - (await at(-1e-5))) / 2e-5;
      d.set(orig);
      const an = values(gl).reduce((s, v, i) => s + v * values(u)[i]!, 0);
      expect(relErr(an, fd)).toBeLessThan(1e-7);
    }
    expect(fwd.traceCount).toBe(1);
  });
});

describe('pytrees through jvp and vjp', () => {
  it('vjp of a function with several outputs takes a cotangent per output', async () => {
    const x = rng.randn([3], 'float64');
    const [outs, pullback] = (await vjp((x: Value) => ({ sq: np.mul(x, x), lin: np.mul(x, 3) }), x)) as [Record<string, Tensor>, (ct: unknown) => Promise<Tensor[]>];
    expect(values(outs.sq!)).toEqual(values(x).map((v) => v * v));
    const ctSq = rng.randn([3], 'float64');
    const ctLin = rng.randn([3], 'float64');
    const [gx] = await pullback({ sq: ctSq, lin: ctLin });
    expectClose(gx!, f64([3], values(x).map((v, i) => 2 * v * values(ctSq)[i]! + 3 * values(ctLin)[i]!)), 1e-14);
  });

  it('jvp with nested primals and tangents', async () => {
    const p = { a: rng.randn([2], 'float64'), b: [rng.randn([2], 'float64')] };
    const t = { a: rng.randn([2], 'float64'), b: [rng.randn([2], 'float64')] };
    const f = (p: { a: Value; b: Value[] }) => np.sum(np.mul(p.a, p.b[0]!));
    const [y, dy] = (await jvp(f, [p], [t])) as Tensor[];
    const [a, b, da, db] = [p.a, p.b[0]!, t.a, t.b[0]!].map(values);
    expect(y!.item()).toBeCloseTo(a![0]! * b![0]! + a![1]! * b![1]!, 14);
    expect(dy!.item()).toBeCloseTo([0, 1].reduce((s, i) => s + da![i]! * b![i]! + a![i]! * db![i]!, 0), 14);
  });

  it('an argument the function ignores gets a zero gradient of its shape', async () => {
    const [ga, gb] = (await grad((a: Value, _b: Value) => np.sum(a), { argnums: [0, 1] })(rng.randn([2], 'float64'), rng.randn([3, 2], 'float64'))) as Tensor[];
    expect(values(ga!)).toEqual([1, 1]);
    expect([...gb!.shape]).toEqual([3, 2]);
    expect(values(gb!).every((v) => v === 0)).toBe(true);
  });

  it('jit(valueAndGrad(loss)) on parameter trees equals the uncompiled call and compiles once', async () => {
    const params = { W: rng.randn([4, 3], 'float64', 0.5), b: rng.randn([3], 'float64') };
    const loss = (p: { W: Value; b: Value }, x: Value, y: Value) => np.crossEntropy(np.add(np.matmul(x, p.W), p.b), y);
    const step = jit(valueAndGrad(loss));
    const x = rng.randn([5, 4], 'float64');
    const y = tensor([0, 2, 1, 1, 0], 'int64');
    const [l1, g1] = (await step(params, x, y)) as [Tensor, { W: Tensor; b: Tensor }];
    const [l2, g2] = (await valueAndGrad(loss)(params, x, y)) as [Tensor, { W: Tensor; b: Tensor }];
    await step(params, rng.randn([5, 4], 'float64'), y);
    expect(step.traceCount).toBe(1);
    expect(l1.item()).toBeCloseTo(l2.item(), 14);
    expectClose(g1.W, g2.W, 1e-14);
    expectClose(g1.b, g2.b, 1e-14);
    // the bias gradient of a mean cross-entropy sums (softmax - onehot) / N over the batch
    expect(values(g1.b).reduce((a, v) => a + v, 0)).toBeCloseTo(0, 14);
    // and both against the formulas: L = mean(logsumexp(l) - l[y]), ∂L/∂W = xᵀ G, ∂L/∂b = Σ G,
    // G = (softmax(l) - onehot(y)) / N, l = x W + b
    const logits = values(matmulRef(x, params.W)).map((v, i) => v + values(params.b)[i % 3]!);
    const labels = values(y);
    let lossRef = 0;
    const G = new Array<number>(15);
    for (let r = 0; r < 5; r++) {
      const row = logits.slice(3 * r, 3 * r + 3);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      lossRef += (lse - row[labels[r]!]!) / 5;
      row.forEach((v, c) => { G[3 * r + c] = (Math.exp(v - lse) - (c === labels[r] ? 1 : 0)) / 5; });
    }
    expect(l1.item()).toBeCloseTo(lossRef, 13);
    expectClose(g1.W, matmulRef(transposeRef(x, [1, 0]), f64([5, 3], G)), 1e-13);
    expectClose(g1.b, f64([3], [0, 1, 2].map((c) => [0, 1, 2, 3, 4].reduce((a, r) => a + G[3 * r + c]!, 0))), 1e-13);
  });
});

describe('jit caching', () => {
  it('reuses the trace for a repeated signature and retraces for a new shape or dtype', async () => {
    const jf = jit((x: Value) => np.sum(np.exp(x)));
    await jf(rng.randn([3], 'float64'));
    const y = (await jf(tensor([0, 1, 2], 'float64'))) as Tensor;
    expect(y.item()).toBeCloseTo(1 + Math.E + Math.E ** 2, 13);
    expect(jf.traceCount).toBe(1);
    expect(jf.cacheSize).toBe(1);
    await jf(rng.randn([4], 'float64'));
    expect(jf.traceCount).toBe(2);
    const y32 = (await jf(tensor([0, 1, 2], 'float32'))) as Tensor;
    expect(y32.dtype).toBe('float32');
    expect(jf.traceCount).toBe(3);
    await jf(tensor([5, 6, 7], 'float32'));
    expect(jf.traceCount).toBe(3);
  });

  it('treats numbers as static: a new number retraces, the same number does not', async () => {
    const jf = jit((x: Value, k: number) => np.mul(x, k));
    const x = tensor([1, 2], 'float64');
    expect(values((await jf(x, 3)) as Tensor)).toEqual([3, 6]);
    expect(values((await jf(x, 3)) as Tensor)).toEqual([3, 6]);
    expect(jf.traceCount).toBe(1);
    expect(values((await jf(x, 4)) as Tensor)).toEqual([4, 8]);
    expect(jf.traceCount).toBe(2);
  });

  it('a jitted function called inside another jit is inlined, not traced on its own', async () => {
    const inner = jit((x: Value) => np.mul(x, x));
    const outer = jit((x: Value) => np.add(inner(x) as Value, 1));
    expect(values((await outer(tensor([2, 3], 'float64'))) as Tensor)).toEqual([5, 10]);
    expect(inner.traceCount).toBe(0);
    expect(outer.traceCount).toBe(1);
  });
});
