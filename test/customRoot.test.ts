import { describe, expect, it } from 'vitest';
import { customRoot, grad, jit, np, tensor } from '../src/index.js';

// z³ + z − a = 0 has one real root for every a; dz/da = 1 / (3z² + 1)
const g = (z: any, a: any) => np.sub(np.add(np.mul(np.mul(z, z), z), z), a);
const cubicRoot = (a: number) => {
  let z = 0;
  for (let i = 0; i < 100; i++) z -= (z ** 3 + z - a) / (3 * z * z + 1);
  return z;
};

describe('customRoot', () => {
  const as = [0.5, -2, 3];
  const a = tensor([[0.5], [-2], [3]], 'float64');
  const solve = (a: any) => customRoot(g, np.zerosLike(a), [a], { tol: 1e-13, maxIter: 50, stopOn: 'abs', backwardTol: 1e-13, backwardMaxIter: 100 });

  it('finds the root with Newton by default', async () => {
    const [z, conv] = await jit((a: any) => {
      const r = solve(a);
      return [r.value, r.stats.converged];
    })(a);
    expect(conv.item()).toBe(1);
    z.toArray().forEach((v: number, i: number) => expect(v).toBeCloseTo(cubicRoot(as[i]!), 10));
  });

  it('differentiates by the implicit function theorem', async () => {
    const da = await grad((a: any) => np.sum(solve(a).value))(a);
    da.toArray().forEach((v: number, i: number) => {
      const z = cubicRoot(as[i]!);
      expect(v).toBeCloseTo(1 / (3 * z * z + 1), 9);
    });
  });
});
