/** Composites (softmax, logSoftmax, crossEntropy, layerNorm, groupNorm, ...) built from primitives. */
import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, tensor, type Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, transposeRef, values } from './helpers/reference.js';

const rng = new Rng(59);
/** Apply `fn` to each row of a 2-D tensor. */
const rowsRef = (x: Tensor, fn: (r: number[]) => number[]): Tensor => {
  const [n, c] = x.shape as [number, number];
  const v = values(x);
  return f64([n, c], Array.from({ length: n }, (_, i) => fn(v.slice(i * c, i * c + c))).flat());
};
const softmaxRow = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};
const logSoftmaxRow = (r: number[]) => softmaxRow(r).map(Math.log);
const normRow = (eps: number) => (r: number[]) => {
  const m = r.reduce((a, b) => a + b) / r.length;
  const v = r.reduce((a, b) => a + (b - m) ** 2, 0) / r.length;
  return r.map((x) => (x - m) / Math.sqrt(v + eps));
};

describe('composites', () => {
  it('softmax over the last axis and over axis 0', async () => {
    const x = rng.randn([3, 5], 'float64', 2);
    expectClose(await expectGradsOk((x) => np.softmax(x), [x]), rowsRef(x, softmaxRow), 1e-14);
    const y0 = await expectGradsOk((x) => np.softmax(x, 0), [x]);
    expectClose(y0, transposeRef(rowsRef(transposeRef(x, [1, 0]), softmaxRow), [1, 0]), 1e-14);
  });

  it('softmax and logSoftmax stay finite for large logits', async () => {
    const x = tensor([[1000, 0, -1000]], 'float64');
    const [s, l] = (await jit((x: Value) => [np.softmax(x), np.logSoftmax(x)])(x)) as Tensor[];
    expect(values(s!)).toEqual([1, 0, 0]);
    expect(values(l!)).toEqual([0, -1000, -2000]);
  });

  it('logSoftmax and logSumExp', async () => {
    const x = rng.randn([4, 3], 'float64', 2);
    expectClose(await expectGradsOk((x) => np.logSoftmax(x), [x]), rowsRef(x, logSoftmaxRow), 1e-14);
    const lse = await expectGradsOk((x) => np.logSumExp(x, 1), [x]);
    const rows = [0, 1, 2, 3].map((i) => values(x).slice(i * 3, i * 3 + 3));
    expectClose(lse, f64([4], rows.map((r) => Math.log(r.reduce((a, b) => a + Math.exp(b), 0)))), 1e-14);
  });

  it('logSumExp over several axes, dropped or kept', async () => {
    const x = rng.randn([2, 3, 4], 'float64', 2);
    const v = values(x);
    const want = [0, 1, 2].map((j) => {
      let s = 0;
      for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) s += Math.exp(v[i * 12 + j * 4 + k]!);
      return Math.log(s);
    });
    expectClose(await expectGradsOk((x) => np.logSumExp(x, [0, 2]), [x]), f64([3], want), 1e-14);
    const kept = (await jit((x: Value) => np.logSumExp(x, [0, -1], true))(x)) as Tensor;
    expectClose(kept, f64([1, 3, 1], want), 1e-14);
  });

  it('crossEntropy with integer labels and with probability targets', async () => {
    const logits = rng.randn([4, 3], 'float64');
    const labels = tensor([2, 0, 1, 2], 'int64');
    const ls = values(rowsRef(logits, logSoftmaxRow));
    const expected = -[2, 0, 1, 2].reduce((a, c, i) => a + ls[i * 3 + c]!, 0) / 4;
    const y = await expectGradsOk((l) => np.crossEntropy(l, labels), [logits]);
    expect(y.item()).toBeCloseTo(expected, 13);
    const probs = rowsRef(rng.randn([4, 3], 'float64'), softmaxRow);
    const y2 = await expectGradsOk((l, p) => np.crossEntropy(l, p), [logits, probs]);
    const pv = values(probs);
    expect(y2.item()).toBeCloseTo(-ls.reduce((a, v, i) => a + v * pv[i]!, 0) / 4, 13);
  });

  it('crossEntropy gradient is (softmax - onehot) / N', async () => {
    const logits = rng.randn([2, 3], 'float64');
    const labels = tensor([1, 2], 'int64');
    const g = (await grad((l: Value) => np.crossEntropy(l, labels))(logits)) as Tensor;
    const sm = values(rowsRef(logits, softmaxRow));
    expectClose(g, f64([2, 3], sm.map((v, i) => (v - (i === 1 || i === 5 ? 1 : 0)) / 2)), 1e-14);
  });

  it('oneHot', async () => {
    const y = (await jit((l: Value) => np.oneHot(l, 4, 'float64'))(tensor([3, 0, 1], 'int64'))) as Tensor;
    expect(values(y)).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('layerNorm over the last axis and over trailing axes', async () => {
    const x = rng.randn([3, 4], 'float64', 2, 1);
    expectClose(await expectGradsOk((x) => np.layerNorm(x), [x]), rowsRef(x, normRow(1e-5)), 1e-13);
    const x3 = rng.randn([2, 3, 4], 'float64');
    const y3 = await expectGradsOk((x) => np.layerNorm(x, 1, 1e-3), [x3]);
    expectClose(y3, f64([2, 3, 4], values(rowsRef(f64([2, 12], values(x3)), normRow(1e-3)))), 1e-13);
  });

  it('groupNorm over channel groups and space', async () => {
    const x = rng.randn([2, 4, 3, 2], 'float64');
    // groups of 2 channels x 3 x 2 pixels = 12 contiguous values each
    const expected = f64([2, 4, 3, 2], values(rowsRef(f64([4, 12], values(x)), normRow(1e-5))));
    expectClose(await expectGradsOk((x) => np.groupNorm(x, 2), [x]), expected, 1e-13);
  });

  it('stopGradient passes values and blocks derivatives', async () => {
    const x = tensor([1, 2, 3], 'float64');
    const g = (await grad((x: Value) => np.sum(np.mul(np.stopGradient(x), x)))(x)) as Tensor;
    expect(values(g)).toEqual([1, 2, 3]);
  });
});
