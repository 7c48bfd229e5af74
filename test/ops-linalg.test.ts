/** matmul: 2-D, 1-D operands, batched with broadcast batch axes. */
import { describe, expect, it } from 'vitest';
import { np, Rng } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, matmulRef, values } from './helpers/reference.js';

const rng = new Rng(31);
const cases: [number[], number[]][] = [
  [[3, 4], [4, 2]],
  [[2, 3, 4], [4, 5]],
  [[2, 1, 3, 4], [3, 4, 2]],
  [[3, 4], [2, 4, 3]],
];

describe('matmul', () => {
  for (const [sa, sb] of cases) {
    it(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, async () => {
      const a = rng.randn(sa, 'float64');
      const b = rng.randn(sb, 'float64');
      expectClose(await expectGradsOk(np.matmul, [a, b]), matmulRef(a, b));
    });
  }

  it('treats 1-D operands as row and column vectors', async () => {
    const m = rng.randn([3, 4], 'float64');
    const v = rng.randn([4], 'float64');
    const w = rng.randn([3], 'float64');
    const mv = await expectGradsOk(np.matmul, [m, v]);
    expect([...mv.shape]).toEqual([3]);
    expectClose(mv, f64([3], values(matmulRef(m, f64([4, 1], values(v))))));
    const wm = await expectGradsOk(np.matmul, [w, m]);
    expect([...wm.shape]).toEqual([4]);
    expectClose(wm, f64([4], values(matmulRef(f64([1, 3], values(w)), m))));
  });

  it('with a constant operand (gradient w.r.t. one side only)', async () => {
    const W = rng.randn([4, 4], 'float64', 0.3);
    await expectGradsOk((x) => np.tanh(np.add(np.matmul(x, W), x)), [rng.randn([3, 4], 'float64')]);
  });
});
