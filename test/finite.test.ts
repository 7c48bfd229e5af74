/**
 * The finite check of jit's inputs: the WebAssembly SIMD path (arrays of 256 elements and more)
 * finds a NaN or ±Inf at any position, in float32 and float64, as the JS loop does below it.
 */
import { describe, expect, it } from 'vitest';
import { allFinite, Rng, Tensor } from '../src/index.js';
import { allFiniteSimd, simdFiniteAvailable } from '../src/core/finite.js';

const rng = new Rng(404);

describe('allFinite on large arrays', () => {
  it('runs the SIMD path in Node', () => {
    expect(simdFiniteAvailable()).toBe(true);
    expect(allFiniteSimd(new Float32Array(1000))).toBe(true);
    expect(allFiniteSimd(new Float32Array(10))).toBeNull(); // small arrays: the JS loop
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: every size around the vector width, every bad value, first, middle and last`, () => {
      for (const n of [256, 257, 258, 259, 263, 1000, 4099, 70000]) {
        const t = rng.randn([n], dtype, 1e30);
        expect(allFinite(t), `${dtype} n=${n}`).toBe(true);
        for (const i of [0, 1, n >> 1, n - 2, n - 1]) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const u = new Tensor(dtype, [n], dtype === 'float32' ? Float32Array.from(t.toArray()) : Float64Array.from(t.toArray()));
            u.data[i] = bad;
            expect(allFinite(u), `${dtype} n=${n} at ${i}: ${bad}`).toBe(false);
          }
        }
      }
      const extremes = dtype === 'float32' ? [-0, 3.4e38, -3.4e38, 1e-45] : [-0, 1.7e308, -1.7e308, 5e-324];
      const values = Array.from({ length: 300 }, (_, i) => extremes[i % 4]!);
      const big = new Tensor(dtype, [300], dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values));
      expect(allFinite(big)).toBe(true);
    });
  }

  it('a subarray view is checked over its own elements only', () => {
    const all = new Float32Array(2000);
    all[0] = NaN;
    all[1999] = Infinity;
    expect(allFinite(new Tensor('float32', [1000], all.subarray(500, 1500)))).toBe(true);
    expect(allFinite(new Tensor('float32', [1999], all.subarray(1, 2000)))).toBe(false);
  });
});
