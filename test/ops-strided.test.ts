/** stridedSlice (steps of either sign, numpy's clamping) and flip: values against index loops, derivatives, vmap. */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, Tensor, vmap, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, sizeOf, unravel } from './helpers/reference.js';

const rng = new Rng(21);

/** numpy's x[start:end:step] on every axis, by index loops. */
function sliceRef(x: Tensor, starts: number[], ends: number[], steps: number[]): Tensor {
  const picks = x.shape.map((n, i) => {
    const norm = (v: number) => (v < 0 ? v + n : v);
    const out: number[] = [];
    const st = steps[i]!;
    if (st > 0) for (let k = Math.min(Math.max(norm(starts[i]!), 0), n); k < Math.min(Math.max(norm(ends[i]!), 0), n); k += st) out.push(k);
    else for (let k = Math.min(Math.max(norm(starts[i]!), -1), n - 1); k > Math.min(Math.max(norm(ends[i]!), -1), n - 1); k += st) out.push(k);
    return out;
  });
  const shape = picks.map((p) => p.length);
  const src = x.toArray();
  const data = Array.from({ length: sizeOf(shape) }, (_, f) => {
    const idx = unravel(f, shape).map((k, i) => picks[i]![k]!);
    return src[idx.reduce((acc, v, i) => acc * x.shape[i]! + v, 0)]!;
  });
  return f64(shape, data);
}

// [label, shape, starts, ends, steps]
const cases: [string, number[], number[], number[], number[]][] = [
  ['step 2 and step 3', [5, 7], [0, 1], [5, 7], [2, 3]],
  ['negative steps', [5, 6], [4, -1], [-6, 0], [-1, -2]],
  ['clamped and negative indices', [4, 5], [-10, -3], [100, -1], [3, 1]],
  ['negative step from a clamped start', [6, 3], [100, 0], [-100, 3], [-4, 1]],
  ['an empty axis', [4, 3], [3, 0], [1, 3], [1, 1]],
];

describe('stridedSlice', () => {
  for (const [label, shape, starts, ends, steps] of cases) {
    it(`${label}: values and float64 derivatives`, async () => {
      const x = rng.randn(shape, 'float64');
      const f = (x: Value) => np.stridedSlice(x, starts, ends, steps);
      const want = sliceRef(x, starts, ends, steps);
      const got = (await jit(f)(x)) as Tensor;
      expect([...got.shape]).toEqual([...want.shape]);
      expectClose(got, want, 0);
      if (sizeOf(want.shape) > 0) await expectGradsOk(f, [x]);
    });
  }

  it('flip reverses axes; twice is the identity', async () => {
    const x = rng.randn([2, 3, 4], 'float64');
    const [once, twice] = (await jit((x: Value) => [np.flip(x, [0, 2]), np.flip(np.flip(x, [0, 2]), [2, 0])])(x)) as Tensor[];
    expectClose(once!, sliceRef(x, [-1, 0, -1], [-100, 3, -100], [-1, 1, -1]), 0);
    expectClose(twice!, x, 0);
    await expectGradsOk((x: Value) => np.mul(np.flip(x, 1), x), [x]);
  });

  it('vmap slices each example', async () => {
    const x = rng.randn([3, 5, 4], 'float64');
    const f = (r: Value) => np.stridedSlice(r, [4, 0], [-100, 4], [-2, 3]);
    const [a, b] = (await jit((x: Value) => [vmap(f)(x) as Value, np.stridedSlice(x, [0, 4, 0], [3, -100, 4], [1, -2, 3])])(x)) as Tensor[];
    expectClose(a!, b!, 0);
  });

  it('a zero step is a ShapeError', async () => {
    await expect(jit((x: Value) => np.stridedSlice(x, [0], [2], [0]))(new Tensor('float32', [3]))).rejects.toThrow(/non-zero/);
  });
});
