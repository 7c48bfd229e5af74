/** vmap: batching rules and the unrolled fallback, each checked against calling f example by example. */
import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, type Tensor, tensor, type Value, vmap } from '../src/index.js';
import { expectClose, f64, sizeOf, transposeRef, values } from './helpers/reference.js';

const rng = new Rng(29);
const randn = (shape: number[]) => rng.randn(shape, 'float64');
type Axis = number | null;

/** Example i of t along `axis`, on the host. */
function hostTake(t: Tensor, axis: number, i: number): Tensor {
  const a = axis < 0 ? axis + t.rank : axis;
  const m = transposeRef(t, [a, ...[...t.shape.keys()].filter((k) => k !== a)]);
  const s = m.shape.slice(1);
  return f64(s, values(m).slice(i * sizeOf(s), (i + 1) * sizeOf(s))).astype(t.dtype);
}
/** Stack tensors along a new `axis`, on the host. */
function hostStack(ts: Tensor[], axis: number): Tensor {
  const s = ts[0]!.shape;
  const all = f64([ts.length, ...s], ts.flatMap(values));
  const perm = [...s.keys()].map((k) => k + 1);
  perm.splice(axis, 0, 0);
  return transposeRef(all, perm);
}
/** f applied example by example (one compiled jit), results stacked along `outAxis`. */
async function loopRef(f: (...xs: Value[]) => Value, args: Tensor[], inAxes: Axis[], outAxis = 0): Promise<Tensor> {
  const jf = jit(f);
  const k = inAxes.findIndex((a) => a !== null);
  const ax = inAxes[k]!;
  const n = args[k]!.shape[ax < 0 ? ax + args[k]!.rank : ax]!;
  const outs: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    outs.push((await jf(...args.map((a, j) => (inAxes[j] === null ? a : hostTake(a, inAxes[j]!, i))))) as Tensor);
  }
  return hostStack(outs, outAxis);
}
/** vmap(f) against the loop, with the given axes. */
async function check(f: (...xs: Value[]) => Value, args: Tensor[], inAxes: Axis[], outAxes = 0): Promise<void> {
  const got = (await vmap(f, { inAxes, outAxes })(...args)) as Tensor;
  expectClose(got, await loopRef(f, args, inAxes, outAxes), 1e-12);
}

describe('vmap batching rules', () => {
  it('elementwise maths, comparisons, where and cast', async () => {
    const f = (x: Value, y: Value) =>
      np.add(np.tanh(np.mul(np.add(x, y), np.exp(x))), np.where(np.greater(x, y), np.sqrt(np.abs(x)), np.astype(np.astype(y, 'float32'), 'float64')));
    await check(f, [randn([4, 3]), randn([4, 3])], [0, 0]);
  });

  it('broadcasting against unbatched operands of other ranks, and batch axes other than 0', async () => {
    // batched [3] against unbatched [2, 3], [2, 1] and a number
    await check((x, c, m) => np.add(np.mul(x, c), np.div(x, np.add(m, 3))), [randn([4, 3]), randn([2, 3]), randn([2, 1])], [0, null, null]);
    // batched [2, 3] against unbatched [3]
    await check((x, c) => np.sub(x, c), [randn([2, 4, 3]), randn([3])], [1, null]);
    // both batched, ranks 1 and 2, batch axes 0 and -1
    await check((x, y) => np.maximum(np.mul(x, y), 0.1), [randn([5, 3]), randn([2, 3, 5])], [0, -1]);
  });

  it('reductions: sum, max, mean, argmax', async () => {
    const f = (x: Value) => np.add(np.add(np.sum(x, 1), np.max(x, 1)), np.add(np.astype(np.argmax(x, -1), 'float64'), np.mean(x)));
    await check(f, [randn([3, 4, 5])], [1]);
    await check((x) => np.max(x, 0, true), [randn([3, 4, 2])], [2]);
  });

  it('matmul: batched × unbatched, unbatched × batched, both batched, numpy batch axes', async () => {
    const mm = (a: Value, b: Value) => np.matmul(a, b);
    await check(mm, [randn([5, 3, 4]), randn([4, 2])], [0, null]);
    await check(mm, [randn([5, 4]), randn([4, 2])], [0, null]); // a batched vector
    await check(mm, [randn([2, 3]), randn([3, 5, 4])], [null, 1]);
    await check(mm, [randn([3, 4, 5]), randn([5, 4, 2])], [2, 0]);
    // an unbatched 3-D operand must not line its batch axis up with vmap's
    await check(mm, [randn([2, 3, 4]), randn([5, 4, 2])], [null, 0]);
  });

  it('reshape, transpose, slice, pad, broadcastTo and concat with an unbatched piece', async () => {
    const f = (x: Value, c: Value) =>
      np.concat([
        np.reshape(np.transpose(x), [-1]),
        np.reshape(np.sliceAxis(x, 1, 1, 3), [4]),
        np.reshape(np.pad(x, [[1, 0], [0, 1]]), [12]),
        np.reshape(np.broadcastTo(np.reshape(np.sum(x, 0), [1, 3]), [2, 3]), [6]),
        c,
      ]);
    await check(f, [randn([2, 4, 3]), randn([5])], [1, null]);
  });

  it('take at a shared index, and at a batched index (unrolled)', async () => {
    const tk = (x: Value, i: Value) => np.take(x, i, 1);
    await check(tk, [randn([3, 4, 5]), tensor(2, 'int64')], [0, null]);
    await check(tk, [randn([3, 4, 5]), tensor([0, 4, 1], 'int64')], [0, 0]);
  });

  it('conv2d with a shared weight, and a batched weight (unrolled)', async () => {
    const conv = (x: Value, w: Value) => np.conv2d(x, w, { padding: 1, stride: 2 });
    await check(conv, [randn([3, 2, 3, 6, 6]), randn([4, 3, 3, 3])], [0, null]);
    await check(conv, [randn([2, 3, 5, 5]), randn([3, 4, 3, 3, 3])], [null, 0]);
  });
});

describe('vmap as a transform', () => {
  it('outAxes: a number, and one per output with null for an unbatched output', async () => {
    await check((x, c) => np.mul(x, c), [randn([4, 2, 3]), randn([3])], [0, null], 2);
    const [a, b] = (await vmap((x: Value, c: Value) => [np.mul(x, c), np.sum(c)], { inAxes: [0, null], outAxes: [1, null] })(randn([4, 3]), f64([3], [1, 2, 3]))) as Tensor[];
    expect([...a!.shape]).toEqual([3, 4]);
    expect(b!.item()).toBe(6);
    // an unbatched output with outAxes 0 is repeated along the batch
    const c = (await vmap((_x: Value, c: Value) => np.neg(c), { inAxes: [0, null] })(randn([2, 5]), f64([3], [1, 2, 3]))) as Tensor;
    expect(values(c)).toEqual([-1, -2, -3, -1, -2, -3]);
  });

  it('nested vmap gives all pairs', async () => {
    const x = randn([3, 4]);
    const y = randn([5, 4]);
    const dot = (a: Value, b: Value) => np.sum(np.mul(a, b));
    const pairs = (await vmap(vmap(dot, { inAxes: [0, null] }), { inAxes: [null, 0] })(x, y)) as Tensor;
    const xs = values(x);
    const ys = values(y);
    const ref = Array.from({ length: 15 }, (_, k) => {
      const [j, i] = [Math.floor(k / 3), k % 3];
      return [0, 1, 2, 3].reduce((s, q) => s + xs[i * 4 + q]! * ys[j * 4 + q]!, 0);
    });
    expectClose(pairs, f64([5, 3], ref), 1e-12);
  });

  const params = { W1: randn([3, 4]), b1: randn([4]), W2: randn([4, 1]) };
  type P = typeof params;
  const loss = (p: Record<keyof P, Value>, x: Value, y: Value) => {
    const h = np.tanh(np.add(np.matmul(x, p.W1), p.b1));
    const e = np.sub(np.matmul(h, p.W2), y);
    return np.sum(np.mul(e, e));
  };
  const xs = randn([6, 3]);
  const ys = randn([6, 1]);
  const loopGrads = async () => {
    const g = grad(loss);
    const out: Record<keyof P, Tensor>[] = [];
    for (let i = 0; i < 6; i++) out.push((await g(params, hostTake(xs, 0, i), hostTake(ys, 0, i))) as Record<keyof P, Tensor>);
    return out;
  };

  it('grad inside vmap: per-example gradients of an MLP loss', async () => {
    const per = (await vmap(grad(loss), { inAxes: [null, 0, 0] })(params, xs, ys)) as Record<keyof P, Tensor>;
    const ref = await loopGrads();
    for (const k of Object.keys(params) as (keyof P)[]) expectClose(per[k], hostStack(ref.map((r) => r[k]), 0), 1e-12);
  });

  it('vmap inside grad: the gradient of the summed batch loss', async () => {
    const total = (p: Record<keyof P, Value>) => np.sum(vmap(loss, { inAxes: [null, 0, 0] })(p, xs, ys) as Value);
    const g = (await grad(total)(params)) as Record<keyof P, Tensor>;
    const ref = await loopGrads();
    for (const k of Object.keys(params) as (keyof P)[]) {
      const sum = ref.map((r) => values(r[k])).reduce((a, b) => a.map((v, i) => v + b[i]!));
      expectClose(g[k], f64(params[k].shape, sum), 1e-12);
    }
  });

  it('a primitive without a batching rule (solve) is unrolled', async () => {
    const a = f64([4, 3, 3], values(randn([4, 3, 3])).map((v, i) => v + ((i % 9) % 4 === 0 ? 4 : 0)));
    await check((a, b) => np.tanh(np.solve(a, b)), [a, randn([3, 2])], [0, null]);
  });

  it('rules do not unroll: the batched graph does not grow with the batch', async () => {
    const mlp = vmap((x: Value, w: Value) => np.sum(np.tanh(np.matmul(np.reshape(x, [2, 3]), w)), 0), { inAxes: [0, null] });
    const { graph } = await jit(mlp).compile(randn([8, 6]), randn([3, 4]));
    expect(graph.eqns.map((e) => e.prim.name).filter((n) => n === 'slice' || n === 'concat')).toEqual([]);
  });

  it('rejects batch sizes that disagree', async () => {
    await expect(vmap((x: Value, y: Value) => np.add(x, y))(randn([2, 3]), randn([3, 3]))).rejects.toThrow(/batch size/);
  });
});
