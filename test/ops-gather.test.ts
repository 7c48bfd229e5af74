/** gather and its transpose scatterAdd: values against index loops, derivatives (repeated and negative indices), vmap. */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, Tensor, vmap, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, sizeOf, unravel } from './helpers/reference.js';

const rng = new Rng(22);
const ints = (shape: number[], v: number[]) => new Tensor('int64', shape, BigInt64Array.from(v.map(BigInt)));

function gatherRef(x: Tensor, idx: Tensor, axis: number): Tensor {
  const n = x.shape[axis]!;
  const ids = idx.toArray().map((k) => (k < 0 ? k + n : k));
  const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  const src = x.toArray();
  return f64(shape, Array.from({ length: sizeOf(shape) }, (_, f) => {
    const o = unravel(f, shape);
    const k = ids[o.slice(axis, axis + idx.shape.length).reduce((a, v, i) => a * idx.shape[i]! + v, 0)]!;
    const full = [...o.slice(0, axis), k, ...o.slice(axis + idx.shape.length)];
    return src[full.reduce((a, v, i) => a * x.shape[i]! + v, 0)]!;
  }));
}

// [label, data shape, index shape, indices, axis]
const cases: [string, number[], number[], number[], number][] = [
  ['axis 0, 2-D indices with repeats and a negative one', [5, 3], [2, 2], [0, -1, 2, 2], 0],
  ['axis 1, 1-D indices', [2, 4, 3], [3], [3, 0, 3], 1],
  ['last axis, a scalar index', [3, 4], [], [-2], -1],
];

describe('gather', () => {
  for (const [label, xs, is, iv, axis] of cases) {
    it(`${label}: values, and float64 derivatives through scatterAdd`, async () => {
      const x = rng.randn(xs, 'float64');
      const idx = ints(is, iv);
      const f = (x: Value) => np.gather(x, idx, axis);
      expectClose((await jit(f)(x)) as Tensor, gatherRef(x, idx, axis < 0 ? axis + xs.length : axis), 0);
      await expectGradsOk(f, [x]);
    });
  }

  it('scatterAdd sums repeated indices; its derivative is a gather', async () => {
    const u = rng.randn([2, 3, 4], 'float64');
    const idx = ints([3], [2, 0, 2]);
    const got = (await jit((u: Value) => np.scatterAdd(u, idx, 1, 4))(u)) as Tensor;
    const want = new Float64Array(2 * 4 * 4);
    const uv = u.toArray();
    for (let a = 0; a < 2; a++) for (let k = 0; k < 3; k++) for (let c = 0; c < 4; c++) want[(a * 4 + [2, 0, 2][k]!) * 4 + c] += uv[(a * 3 + k) * 4 + c]!;
    expectClose(got, f64([2, 4, 4], want), 1e-15);
    await expectGradsOk((u: Value) => np.scatterAdd(u, idx, 1, 4), [u]);
  });

  it('vmap gathers from each example with shared indices', async () => {
    const x = rng.randn([3, 5, 2], 'float64');
    const idx = ints([2], [4, 1]);
    const [a, b] = (await jit((x: Value) => [vmap((r: Value) => np.gather(r, idx, 0))(x) as Value, np.gather(x, idx, 1)])(x)) as Tensor[];
    expectClose(a!, b!, 0);
  });

  it('float indices are a DTypeError', async () => {
    await expect(jit((x: Value) => np.gather(x, x, 0))(new Tensor('float32', [3]))).rejects.toThrow(/indices must be int64 or int32/);
  });
});
