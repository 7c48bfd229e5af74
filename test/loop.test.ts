/**
 * Control flow and the dense solve: whileLoop with early exit (one ONNX Loop), forward mode through
 * it, the error that reverse mode through a raw loop gives, and np.solve against a JS reference.
 */
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, Rng, Tensor, TransformError, type Value } from '../src/index.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { expectClose, f64 } from './helpers/reference.js';

const rng = new Rng(1312);
const int64 = (v: number) => new Tensor('int64', [], new BigInt64Array([BigInt(v)]));

describe('whileLoop', () => {
  // doubles x until it reaches the limit: the trip count depends on the data
  const doubling = jit((x: Value, limit: Value) =>
    np.whileLoop<{ i: Value; x: Value }>(
      (s) => np.less(s.x, limit),
      (s) => ({ i: np.add(s.i, 1), x: np.mul(s.x, 2) }),
      { i: int64(0), x },
      { maxTrips: 1000 },
    ));

  it('exits early with the right count, from one compiled graph for every input', async () => {
    for (const [x0, limit] of [[1, 100], [3, 100], [150, 100], [0.001, 1e6]] as const) {
      let expected = 0;
      for (let v = x0; v < limit; v *= 2) expected++;
      const out = (await doubling(f64([], [x0]), f64([], [limit]))) as { i: Tensor; x: Tensor };
      expect(Number(out.i.item()), `${x0} → ${limit}`).toBe(expected);
      expect(out.x.item()).toBe(x0 * 2 ** expected);
    }
    expect(doubling.traceCount).toBe(1);
  });

  it('maxTrips bounds the iterations', async () => {
    const capped = jit((x: Value) => np.whileLoop<{ i: Value; x: Value }>((s) => np.less(s.x, 1e9), (s) => ({ i: np.add(s.i, 1), x: np.mul(s.x, 2) }), { i: int64(0), x }, { maxTrips: 5 }));
    const out = (await capped(f64([], [1]))) as { i: Tensor; x: Tensor };
    expect(Number(out.i.item())).toBe(5);
    expect(out.x.item()).toBe(32);
  });

  it('foriLoop runs exactly n steps', async () => {
    const f = jit((x: Value) => np.foriLoop(7, (i, s: Value) => np.add(s, np.astype(i, 'float64')), x));
    expect(((await f(f64([], [0.5]))) as Tensor).item()).toBe(0.5 + 21);
  });

  // z ← tanh(z a + x) until the step is below 1e-12 (a data-dependent count), then one more value out
  const iterate = (x: Value, a: Value) =>
    np.whileLoop(
      (s: { z: Value; dz: Value }) => np.greater(np.max(np.abs(s.dz)), 1e-12),
      (s) => {
        const z = np.tanh(np.add(np.matmul(s.z, a), x));
        return { z, dz: np.sub(z, s.z) };
      },
      { z: np.zerosLike(x), dz: np.onesLike(x) },
      { maxTrips: 500 },
    ).z;

  it('jvp through a whileLoop with early exit matches central differences', async () => {
    const x = rng.randn([3, 4], 'float64');
    const a = rng.randn([4, 4], 'float64', 0.2);
    const dx = rng.randn([3, 4], 'float64');
    const da = rng.randn([4, 4], 'float64');
    const [, t] = (await jvp(iterate, [x, a], [dx, da])) as [Tensor, Tensor];
    const f = jit(iterate);
    const eps = 1e-6;
    const shift = (v: Tensor, d: Tensor, s: number) => f64(v.shape, v.toArray().map((e, i) => e + s * d.toArray()[i]!));
    const plus = (await f(shift(x, dx, eps), shift(a, da, eps))) as Tensor;
    const minus = (await f(shift(x, dx, -eps), shift(a, da, -eps))) as Tensor;
    const fd = f64(plus.shape, plus.toArray().map((p, i) => (p - minus.toArray()[i]!) / (2 * eps)));
    expect(relErr(t, fd)).toBeLessThan(1e-8);
  });

  it('reverse mode through a raw whileLoop is a TransformError that points to fixedPoint', async () => {
    const x = rng.randn([3, 4], 'float64');
    const a = rng.randn([4, 4], 'float64', 0.2);
    const loss = (x: Value) => np.sum(iterate(x, a));
    const err = await (async () => grad(loss)(x))().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TransformError);
    expect((err as Error).message).toMatch(/whileLoop/);
    expect((err as Error).message).toMatch(/fixedPoint/);
  });
});

/** Gaussian elimination with partial pivoting, one system, row-major. */
function solveRef(a: number[], b: number[], n: number, k: number): number[] {
  const m = a.map((v) => v);
  const x = b.map((v) => v);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    for (let j = 0; j < n; j++) [m[c * n + j], m[p * n + j]] = [m[p * n + j]!, m[c * n + j]!];
    for (let j = 0; j < k; j++) [x[c * k + j], x[p * k + j]] = [x[p * k + j]!, x[c * k + j]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c]! / m[c * n + c]!;
      for (let j = c; j < n; j++) m[r * n + j]! -= f * m[c * n + j]!;
      for (let j = 0; j < k; j++) x[r * k + j]! -= f * x[c * k + j]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    for (let j = 0; j < k; j++) {
      let s = x[c * k + j]!;
      for (let i = c + 1; i < n; i++) s -= m[c * n + i]! * x[i * k + j]!;
      x[c * k + j] = s / m[c * n + c]!;
    }
  }
  return x;
}
/** The reference over the leading batch axes. */
function batchedRef(A: Tensor, B: Tensor): Tensor {
  const n = A.shape[A.shape.length - 1]!;
  const k = B.shape[B.shape.length - 1]!;
  const count = A.size / (n * n);
  const a = A.toArray();
  const b = B.toArray();
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(...solveRef(a.slice(i * n * n, (i + 1) * n * n), b.slice(i * n * k, (i + 1) * n * k), n, k));
  return f64(B.shape, out);
}

describe('np.solve', () => {
  const solve = jit((a: Value, b: Value) => np.solve(a, b));

  it('a random 5×5 system against the reference', async () => {
    const A = rng.randn([5, 5], 'float64');
    const B = rng.randn([5, 3], 'float64');
    expectClose((await solve(A, B)) as Tensor, batchedRef(A, B), 1e-11);
  });

  it('needs a row swap: zero on the leading diagonal', async () => {
    const A = f64([3, 3], [0, 2, 1, 1, 1, 1, 2, 1, 0]);
    const B = f64([3, 1], [3, 3, 3]);
    const X = (await solve(A, B)) as Tensor;
    expectClose(X, f64([3, 1], [1, 1, 1]), 1e-14);
    // a permutation matrix: pivoting at every step
    const P = f64([4, 4], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    const b = f64([4, 1], [1, 2, 3, 4]);
    expectClose((await solve(P, b)) as Tensor, batchedRef(P, b), 1e-14);
  });

  it('batched [2, 3, 4, 4] with several right-hand sides, and a vector right-hand side', async () => {
    const A = rng.randn([2, 3, 4, 4], 'float64');
    const B = rng.randn([2, 3, 4, 2], 'float64');
    expectClose((await solve(A, B)) as Tensor, batchedRef(A, B), 1e-10);
    const v = rng.randn([2, 3, 4], 'float64');
    const xv = (await solve(A, v)) as Tensor;
    expect(xv.shape).toEqual([2, 3, 4]);
    expectClose(xv, f64([2, 3, 4], batchedRef(A, f64([2, 3, 4, 1], v.toArray())).toArray()), 1e-10);
  });

  it('its derivatives in A and B match central differences (jvp, vjp and the dot identity)', async () => {
    const eye = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 3 : 0));
    const A = f64([2, 4, 4], [...eye, ...eye].map((v) => v + rng.normal()));
    const B = rng.randn([2, 4, 3], 'float64');
    await expectGradsOk((a, b) => np.solve(a, b), [A, B], { tol: 1e-7 });
  });
});
