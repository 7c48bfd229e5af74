/** The checker itself: it must fail on a wrong JVP rule and on a wrong transpose rule. */
import { describe, expect, it } from 'vitest';
import { np, Rng, type Value } from '../src/index.js';
import { definePrimitive, type Primitive, Undefined } from '../src/core/primitive.js';
import { bind1 } from '../src/core/trace.js';
import { gradCheck } from './helpers/gradcheck.js';

// x ↦ x², with a JVP that is off by a factor 3/2
const badSquareP: Primitive = definePrimitive({
  name: 'testBadSquare',
  shape: ([x]) => [x!],
  lower: (ctx, [x]) => [ctx.op('Mul', [x!, x!])],
  jvp: ([x], [dx]) => [[bind1(badSquareP, [x!])], [dx && np.mul(np.mul(x!, 3), dx)]],
});
// x ↦ 2x, linear, with a transpose that forgets the factor 2
const badDoubleP: Primitive = definePrimitive({
  name: 'testBadDouble',
  shape: ([x]) => [x!],
  lower: (ctx, [x]) => [ctx.op('Add', [x!, x!])],
  jvp: ([x], [dx]) => [[bind1(badDoubleP, [x!])], [dx && bind1(badDoubleP, [dx])]],
  transpose: ([ct], [x]) => [x instanceof Undefined ? ct : null],
});

describe('gradCheck', () => {
  const x = new Rng(3).randn([3, 2], 'float64');
  it('passes a correct function with tiny errors', async () => {
    const r = await gradCheck((x: Value) => np.mul(np.tanh(x), x), [x]);
    expect(Math.max(r.jvpVsFd, r.dotIdentity, r.vjpVsFd)).toBeLessThan(1e-8);
  });
  it('flags a wrong JVP rule', async () => {
    const r = await gradCheck((x: Value) => bind1(badSquareP, [x]), [x]);
    expect(r.jvpVsFd).toBeGreaterThan(0.1);
    expect(r.vjpVsFd).toBeGreaterThan(0.1);
  });
  it('flags a wrong transpose rule', async () => {
    const r = await gradCheck((x: Value) => bind1(badDoubleP, [x]), [x]);
    expect(r.jvpVsFd).toBeLessThan(1e-8);
    expect(r.dotIdentity).toBeGreaterThan(0.1);
    expect(r.vjpVsFd).toBeGreaterThan(0.1);
  });
});
