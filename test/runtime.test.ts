/** The same graphs on onnxruntime-node (cpu) and onnxruntime-web (wasm, run in Node) agree. */
import { describe, expect, it } from 'vitest';
import { allFinite, grad, jit, NonFiniteError, np, OnnxError, Rng, Tensor, type DType, type Value } from '../src/index.js';
import { toOnnx } from '../src/index.js';
import { createSession } from '../src/extend.js';

/** max |a - b| / max(1, max |a|), over the leaves of two results. */
function relDiff(a: Tensor | Tensor[] | Record<string, Tensor>, b: typeof a): number {
  const la = a instanceof Tensor ? [a] : Object.values(a);
  const lb = b instanceof Tensor ? [b] : Object.values(b);
  expect(la.length).toBe(lb.length);
  let d = 0;
  la.forEach((t, k) => {
    const x = t.toArray();
    const y = lb[k]!.toArray();
    expect(y.length).toBe(x.length);
    const m = Math.max(1, ...x.map(Math.abs));
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!) / m);
  });
  return d;
}

const tol: Record<string, number> = { float32: 1e-5, float64: 1e-12 };

type Case = { name: string; fn: (...xs: any[]) => unknown; args: (dtype: DType, rng: Rng) => unknown[] };
const cases: Case[] = [
  {
    name: 'tanh cell',
    fn: (p: { W: Value }, z: Value, x: Value) => np.tanh(np.add(np.matmul(z, p.W), x)),
    args: (d, r) => [{ W: r.randn([16, 16], d, 0.3) }, r.randn([8, 16], d), r.randn([8, 16], d)],
  },
  {
    name: 'small conv',
    fn: (w: Value, x: Value) => np.relu(np.conv2d(x, w, { padding: 1, stride: 2 })),
    args: (d, r) => [r.randn([3, 2, 3, 3], d, 0.3), r.randn([2, 2, 7, 7], d)],
  },
  {
    name: 'gradient of a conv + tanh cell loss',
    fn: grad(
      (p: { w: Value; W: Value }, x: Value) => np.sum(np.square(np.tanh(np.matmul(np.flatten(np.conv2d(x, p.w, { padding: 'same' })), p.W)))),
    ),
    args: (d, r) => [{ w: r.randn([2, 1, 3, 3], d, 0.3), W: r.randn([32, 4], d, 0.2) }, r.randn([3, 1, 4, 4], d)],
  },
];

describe('node (cpu) vs web (wasm) parity', () => {
  for (const c of cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${c.name}, ${dtype}`, async () => {
        const args = c.args(dtype, new Rng(7));
        const onNode = jit(c.fn, { runtime: 'node' });
        const onWeb = jit(c.fn, { runtime: 'web' });
        const [a, b] = await Promise.all([onNode(...args), onWeb(...args)]);
        expect(relDiff(a, b)).toBeLessThan(tol[dtype]!);
        const [cn, cw] = await Promise.all([onNode.compile(...args), onWeb.compile(...args)]);
        expect([cn.session.runtime, cn.session.provider]).toEqual(['node', 'cpu']);
        expect([cw.session.runtime, cw.session.provider]).toEqual(['web', 'wasm']);
      });
    }
  }
});

describe('execution providers', () => {
  const model = toOnnx((x: Value) => np.tanh(x), [new Tensor('float32', [2])]).bytes;

  it("['cuda', 'cpu'] falls back to cpu (no CUDA here) and says so", async () => {
    const s = await createSession(model, { executionProviders: ['cuda', 'cpu'] });
    expect(s.provider).toBe('cpu');
    const [y] = await s.run([new Tensor('float32', [2], Float32Array.from([0, 1]))]);
    expect(y!.toArray()[1]).toBeCloseTo(Math.tanh(1), 6);
    await s.release();
  });

  it("['cpu'] on the web runtime means its wasm provider", async () => {
    const s = await createSession(model, { runtime: 'web', executionProviders: ['cpu'] });
    expect(s.provider).toBe('wasm');
    await s.release();
  });

  it('a provider list with nothing that loads is an OnnxError listing each failure', async () => {
    await expect(createSession(model, { executionProviders: ['cuda'] })).rejects.toThrow(OnnxError);
    await expect(createSession(model, { executionProviders: ['cuda'] })).rejects.toThrow(/cuda: /);
  });
});

describe('the per-call path of jit', () => {
  it('allFinite finds a NaN or Inf at any position, in float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const n of [1, 3, 4, 5, 17]) {
        const t = new Tensor(dtype, [n]);
        expect(allFinite(t)).toBe(true);
        for (let i = 0; i < n; i++) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const u = new Tensor(dtype, [n]);
            u.data[i] = bad;
            expect(allFinite(u), `${dtype} n=${n} at ${i}: ${bad}`).toBe(false);
          }
        }
      }
      expect(allFinite(new Tensor(dtype, [2], dtype === 'float32' ? Float32Array.from([-0, 3.4e38]) : Float64Array.from([-0, 1.7e308])))).toBe(true);
    }
  });

  it('repeat calls reuse the compiled graph, new values give new results, new shapes retrace', async () => {
    const f = jit((a: Value, k: number) => np.mul(a, k));
    const a = new Tensor('float32', [2], Float32Array.from([1, 2]));
    expect((await f(a, 3)).toArray()).toEqual([3, 6]);
    expect((await f(new Tensor('float32', [2], Float32Array.from([5, 7])), 3)).toArray()).toEqual([15, 21]);
    expect(f.traceCount).toBe(1);
    expect((await f(a, 4)).toArray()).toEqual([4, 8]); // a new static number is a new signature
    expect((await f(new Tensor('float32', [3], Float32Array.from([1, 1, 1])), 4)).toArray()).toEqual([4, 4, 4]);
    expect(f.traceCount).toBe(3);
  });

  it('a NaN in a new tensor is caught even right after a finite call of the same signature', async () => {
    const f = jit((a: Value) => np.tanh(a));
    await f(new Tensor('float64', [3]));
    await expect(f(new Tensor('float64', [3], Float64Array.from([0, NaN, 0])))).rejects.toThrow(NonFiniteError);
  });
});
