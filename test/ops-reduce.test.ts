/** Reductions: sum, mean, max (axes, negative axes, keepdims), argmax and variance. */
import { describe, expect, it } from 'vitest';
import { jit, jvp, np, Rng, tensor, type Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, mapRef, reduceRef, values } from './helpers/reference.js';

const rng = new Rng(23);
const sumRef = (x: Tensor, axes: number[], keep: boolean) => reduceRef(x, axes, keep, 0, (a, v) => a + v);
const maxRef = (x: Tensor, axes: number[], keep: boolean) => reduceRef(x, axes, keep, -Infinity, Math.max);
const countOf = (x: Tensor, axes: number[]) => axes.reduce((n, a) => n * x.shape[a]!, 1);

// [axis argument, normalised axes, keepdims]
const axisCases: [number | number[] | undefined, number[], boolean][] = [
  [undefined, [0, 1, 2], false],
  [1, [1], false],
  [-1, [2], true],
  [[0, 2], [0, 2], false],
  [[2, 0], [0, 2], true],
];

describe('reductions', () => {
  const x = rng.randn([2, 3, 4], 'float64');
  for (const [axis, axes, keep] of axisCases) {
    const label = `axis ${JSON.stringify(axis)} keepdims ${keep}`;
    it(`sum, ${label}`, async () => {
      expectClose(await expectGradsOk((x) => np.sum(x, axis, keep), [x]), sumRef(x, axes, keep));
    });
    it(`mean, ${label}`, async () => {
      const expected = mapRef(sumRef(x, axes, keep), (v) => v / countOf(x, axes));
      expectClose(await expectGradsOk((x) => np.mean(x, axis, keep), [x]), expected);
    });
    it(`max, ${label}`, async () => {
      expectClose(await expectGradsOk((x) => np.max(x, axis, keep), [x]), maxRef(x, axes, keep));
    });
  }

  it('max shares the tangent equally between tied maxima', async () => {
    const t = tensor([[1, 3, 3], [2, 0, 2]], 'float64');
    const [y, dy] = (await jvp((x: Value) => np.max(x, 1), [t], [tensor([[5, 1, 3], [4, 9, 8]], 'float64')])) as Tensor[];
    expect(values(y!)).toEqual([3, 2]);
    expect(values(dy!)).toEqual([2, 6]);
  });

  it('argmax (int64, no derivative) and variance', async () => {
    const t = rng.randn([3, 5], 'float64');
    const [am, v] = (await jit((x: Value) => [np.argmax(x, -1), np.variance(x, 1)])(t)) as Tensor[];
    expect(am!.dtype).toBe('int64');
    const rows = [0, 1, 2].map((i) => values(t).slice(i * 5, i * 5 + 5));
    expect(values(am!)).toEqual(rows.map((r) => r.indexOf(Math.max(...r))));
    const ref = rows.map((r) => {
      const m = r.reduce((a, b) => a + b) / 5;
      return r.reduce((a, b) => a + (b - m) ** 2, 0) / 5;
    });
    expectClose(v!, tensor(ref, 'float64'));
    await expectGradsOk((x) => np.variance(x, 1), [t]);
  });
});
