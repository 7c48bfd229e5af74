/** einsum for one and two operands: values against summation loops, derivatives, and its errors. */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, type Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, sizeOf, unravel } from './helpers/reference.js';

const rng = new Rng(25);

/** Σ over the labels missing from the output, by loops over every label's range (explicit equations, no ellipsis). */
function einsumRef(eq: string, ...xs: Tensor[]): Tensor {
  const [lhs, out] = eq.split('->') as [string, string];
  const terms = lhs.split(',');
  const size = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((l, k) => size.set(l, Math.max(size.get(l) ?? 1, xs[i]!.shape[k]!))));
  const labels = [...size.keys()];
  const dims = labels.map((l) => size.get(l)!);
  const outShape = [...out].map((l) => size.get(l)!);
  const res = new Float64Array(sizeOf(outShape));
  const vals = xs.map((t) => t.toArray());
  for (let f = 0; f < sizeOf(dims); f++) {
    const at = new Map(labels.map((l, i) => [l, unravel(f, dims)[i]!]));
    let prod = 1;
    terms.forEach((t, i) => {
      const idx = [...t].map((l, k) => (xs[i]!.shape[k] === 1 ? 0 : at.get(l)!));
      prod *= vals[i]![idx.reduce((a, v, k) => a * xs[i]!.shape[k]! + v, 0)]!;
    });
    res[[...out].reduce((a, l, k) => a * outShape[k]! + at.get(l)!, 0)] += prod;
  }
  return f64(outShape, res);
}

// [equation, operand shapes]
const cases: [string, number[][]][] = [
  ['bij,bjk->bik', [[2, 3, 4], [2, 4, 5]]],
  ['ij,ij->', [[3, 4], [3, 4]]],
  ['i,j->ij', [[3], [4]]],
  ['abc,cb->a', [[2, 3, 4], [4, 3]]],
  ['bhqd,bhkd->bhqk', [[1, 2, 3, 4], [1, 2, 5, 4]]],
  ['ij,jk->ki', [[3, 1], [4, 5]]],
  ['ijk->ki', [[2, 3, 4]]],
  ['ij->', [[3, 4]]],
];

describe('einsum', () => {
  for (const [eq, shapes] of cases) {
    it(`${eq}: values and float64 derivatives`, async () => {
      const xs = shapes.map((s) => rng.randn(s, 'float64'));
      const f = (...a: Value[]) => np.einsum(eq, ...a);
      // 'ij,jk' with j of size 1 and 4: the size-1 label broadcasts
      const want = eq === 'ij,jk->ki' ? einsumRef(eq, xs[0]!, xs[1]!) : einsumRef(eq, ...xs);
      expectClose((await jit(f)(...xs)) as Tensor, want, 1e-14);
      await expectGradsOk(f, xs);
    });
  }

  it('an ellipsis and the implicit output', async () => {
    const [a, b] = [rng.randn([2, 3, 4], 'float64'), rng.randn([4, 5], 'float64')];
    const [x, y] = (await jit((a: Value, b: Value) => [np.einsum('...ij,jk->...ik', a, b), np.einsum('bij,jk', a, b)])(a, b)) as Tensor[];
    expectClose(x!, einsumRef('bij,jk->bik', a, b), 1e-14);
    expectClose(y!, einsumRef('bij,jk->bik', a, b), 1e-14);
  });

  it('a repeated label in one operand (a diagonal) is a ShapeError that says so', async () => {
    await expect(jit((a: Value) => np.einsum('ii->i', a))(rng.randn([3, 3]))).rejects.toThrow(/repeats a label within operand 0/);
  });
});
