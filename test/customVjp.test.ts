import { describe, expect, it } from 'vitest';
import { customVjp, grad, jit, jvp, np, tensor, TransformError, valueAndGrad } from '../src/index.js';

const tanhScaled = customVjp((x: any) => np.tanh(x), {
  fwd: (x: any) => {
    const y = np.tanh(x);
    return [y, { y }];
  },
  // a deliberately different rule (twice the true derivative), so the test sees that it is used
  bwd: (r: any, ct: any) => [np.mul(np.mul(ct, np.sub(1, np.mul(r.y, r.y))), 2)],
});

describe('customVjp', () => {
  const xs = [0.3, -0.5, 1.2];
  const x = tensor(xs, 'float64');

  it('computes the primal function', async () => {
    const y = await jit((x: any) => tanhScaled(x))(x);
    y.toArray().forEach((v: number, i: number) => expect(v).toBeCloseTo(Math.tanh(xs[i]!), 12));
  });

  it('uses the user rule under grad, also inside jit', async () => {
    const g = await jit(grad((x: any) => np.sum(tanhScaled(x))))(x);
    g.toArray().forEach((v: number, i: number) => expect(v).toBeCloseTo(2 * (1 - Math.tanh(xs[i]!) ** 2), 12));
  });

  it('composes with surrounding operations (chain rule through the rule)', async () => {
    const [v, g] = await valueAndGrad((x: any) => np.sum(np.mul(tanhScaled(np.mul(x, 3)), 5)))(x);
    expect(v.item()).toBeCloseTo(xs.reduce((a, b) => a + 5 * Math.tanh(3 * b), 0), 10);
    g.toArray().forEach((gv: number, i: number) => expect(gv).toBeCloseTo(5 * 2 * 3 * (1 - Math.tanh(3 * xs[i]!) ** 2), 10));
  });

  it('has no forward-mode rule and says so', async () => {
    await expect(jvp((x: any) => tanhScaled(x), [x], [x])).rejects.toThrow(TransformError);
  });

  it('a two-output function whose second output the loss does not use: the rule sees a zero cotangent for it', async () => {
    const seen: string[] = [];
    const both = customVjp((x: any) => [np.mul(x, x), np.mul(x, 3)], {
      fwd: (x: any) => [[np.mul(x, x), np.mul(x, 3)], { x }],
      bwd: (r: any, [ca, cb]: any) => {
        seen.push(`${np.shape(ca)}|${np.shape(cb)}`);
        // d/dx of (x², 3x) paired with the cotangents: 2x·ca + 3·cb
        return [np.add(np.mul(np.mul(r.x, 2), ca), np.mul(cb, 3))];
      },
    });
    const g = await grad((x: any) => np.sum(both(x)[0]))(x);
    g.toArray().forEach((v: number, i: number) => expect(v).toBeCloseTo(2 * xs[i]!, 12));
    expect(seen).toEqual(['3|3']);
  });
});

