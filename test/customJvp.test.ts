import { describe, expect, it } from 'vitest';
import { customJvp, grad, jit, jvp, np, tensor, type Tensor, type Value } from '../src/index.js';

// log(1 + exp(x)) with a rule in terms of the stable sigmoid; a factor 3 marks that the rule is used
const softplus = customJvp((x: Value) => np.log(np.add(np.exp(x), 1)), ([x]: [Value], [dx]: [Value]) => [
  np.log(np.add(np.exp(x), 1)),
  np.mul(np.mul(dx, np.sigmoid(x)), 3),
]);

describe('customJvp', () => {
  const xs = [-1, 0.5, 2];
  const x = tensor(xs, 'float64');
  const sig = (v: number) => 1 / (1 + Math.exp(-v));

  it('computes the primal function', async () => {
    const y = (await jit((x: Value) => softplus(x))(x)) as Tensor;
    y.toArray().forEach((v, i) => expect(v).toBeCloseTo(Math.log1p(Math.exp(xs[i]!)), 12));
  });

  it('uses the rule in forward mode', async () => {
    const [, t] = (await jvp((x: Value) => softplus(x), [x], [tensor([1, 1, 1], 'float64')])) as Tensor[];
    t!.toArray().forEach((v, i) => expect(v).toBeCloseTo(3 * sig(xs[i]!), 12));
  });

  it('transposes the rule for reverse mode', async () => {
    const g = (await grad((x: Value) => np.sum(np.mul(softplus(x), 2)))(x)) as Tensor;
    g.toArray().forEach((v, i) => expect(v).toBeCloseTo(6 * sig(xs[i]!), 12));
  });
});
