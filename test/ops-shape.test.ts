/** Shape primitives (all linear): values against plain JS, derivatives against finite differences. */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, type Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { broadcastShape, expectClose, f64, sizeOf, transposeRef, unravel, values } from './helpers/reference.js';

const rng = new Rng(11);
/** A reference built by reading `src` at the index `from(outIndex)` (null = zero). */
function gather(shape: number[], src: Tensor, from: (idx: number[]) => number[] | null): Tensor {
  const out = new Float64Array(sizeOf(shape));
  const sv = values(src);
  for (let i = 0; i < out.length; i++) {
    const j = from(unravel(i, shape));
    out[i] = j === null ? 0 : sv[j.reduce((acc, v, k) => acc * src.shape[k]! + v, 0)]!;
  }
  return f64(shape, out);
}

describe('shape primitives', () => {
  it('reshape (with -1)', async () => {
    const x = rng.randn([2, 3, 4], 'float64');
    const y = await expectGradsOk((x) => np.reshape(x, [4, -1]), [x]);
    expect([...y.shape]).toEqual([4, 6]);
    expect(values(y)).toEqual(values(x));
  });

  it('transpose (3-D permutation and the default reversal)', async () => {
    const x = rng.randn([2, 3, 4], 'float64');
    expectClose(await expectGradsOk((x) => np.transpose(x, [1, 2, 0]), [x]), transposeRef(x, [1, 2, 0]));
    expectClose(await expectGradsOk((x) => np.transpose(x), [x]), transposeRef(x, [2, 1, 0]));
  });

  it('broadcastTo adds leading axes and expands unit axes', async () => {
    const x = rng.randn([3, 1], 'float64');
    const y = await expectGradsOk((x) => np.broadcastTo(x, [2, 3, 4]), [x]);
    expectClose(y, gather([2, 3, 4], x, ([, i]) => [i!, 0]));
  });

  it('concat of three inputs along a middle axis and a negative axis', async () => {
    const a = rng.randn([2, 1, 3], 'float64');
    const b = rng.randn([2, 2, 3], 'float64');
    const c = rng.randn([2, 3, 3], 'float64');
    const y = await expectGradsOk((a, b, c) => np.concat([a, b, c], 1), [a, b, c]);
    const parts = [a, b, c];
    const expected = f64([2, 6, 3], new Float64Array(36));
    const ev = expected.data as Float64Array;
    for (let i = 0; i < 36; i++) {
      const [n, k, j] = unravel(i, [2, 6, 3]) as [number, number, number];
      const which = k < 1 ? 0 : k < 3 ? 1 : 2;
      const kk = k - [0, 1, 3][which]!;
      const p = parts[which]!;
      ev[i] = values(p)[(n * p.shape[1]! + kk) * 3 + j]!;
    }
    expectClose(y, expected);
    const z = await expectGradsOk((a, b) => np.concat([a, b], -1), [rng.randn([2, 3], 'float64'), rng.randn([2, 1], 'float64')]);
    expect([...z.shape]).toEqual([2, 4]);
  });

  it('concat with a constant operand: the gradient goes to the traced one only', async () => {
    const k = rng.randn([2, 2], 'float64');
    await expectGradsOk((a) => np.concat([k, a], 0), [rng.randn([1, 2], 'float64')]);
  });

  it('slice', async () => {
    const x = rng.randn([4, 5, 3], 'float64');
    const y = await expectGradsOk((x) => np.slice(x, [1, 0, 2], [3, 4, 3]), [x]);
    expectClose(y, gather([2, 4, 1], x, ([i, j, k]) => [i! + 1, j!, k! + 2]));
    const z = await expectGradsOk((x) => np.sliceAxis(x, 1, 2, 5), [x]);
    expectClose(z, gather([4, 3, 3], x, ([i, j, k]) => [i!, j! + 2, k!]));
  });

  it('pad with zeros, asymmetric', async () => {
    const x = rng.randn([2, 3], 'float64');
    const y = await expectGradsOk((x) => np.pad(x, [[1, 0], [2, 1]]), [x]);
    expectClose(y, gather([3, 6], x, ([i, j]) => (i! >= 1 && j! >= 2 && j! < 5 ? [i! - 1, j! - 2] : null)));
  });

  it('stack, expandDims, squeeze and flatten', async () => {
    const a = rng.randn([2, 3], 'float64');
    const b = rng.randn([2, 3], 'float64');
    const s = await expectGradsOk((a, b) => np.stack([a, b], 1), [a, b]);
    const fromA = gather([2, 2, 3], a, ([i, , k]) => [i!, k!]);
    const fromB = gather([2, 2, 3], b, ([i, , k]) => [i!, k!]);
    expectClose(s, f64([2, 2, 3], values(fromA).map((v, i) => (unravel(i, [2, 2, 3])[1] === 0 ? v : values(fromB)[i]!))));
    const r = (await jit((x: Value) => [np.expandDims(x, -1), np.squeeze(np.expandDims(x, 0)), np.flatten(np.expandDims(x, 1))])(a)) as Tensor[];
    expect(r.map((t) => [...t.shape])).toEqual([[2, 3, 1], [2, 3], [2, 3]]);
  });

  it('numpy broadcasting reference agrees with the library on shapes', () => {
    expect(broadcastShape([3, 1, 4], [2, 1])).toEqual([3, 2, 4]);
  });
});
