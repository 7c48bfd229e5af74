/**
 * erf: float64 (lowered to fitted polynomials, onnxruntime having no float64 Erf) against mpmath's
 * values and a series that loses no digits; float32 (ONNX Erf) against float64; derivatives; vmap.
 */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, Tensor, vmap, type Value } from '../src/index.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { erfSeries } from './helpers/reference.js';


const erf64 = jit((x: Value) => np.erf(x));

describe('erf', () => {
  it('float64 matches mpmath to within 2 ulps', async () => {
    // /usr/bin/python3 -c "import mpmath as mp; mp.mp.dps=30; print(mp.erf(mp.mpf('0.5')))", …
    const ref: [number, number][] = [
      [0.001, 0.0011283787909692363799], [0.3, 0.32862675945912742764], [0.5, 0.52049987781304653768], [1, 0.84270079294971486934],
      [1.5, 0.96610514647531072707], [2.5, 0.99959304798255504106], [3, 0.99997790950300141456], [4.5, 0.99999999980338395585],
      [5.9, 0.9999999999999999281], [-0.7, -0.67780119383741847298], [-2, -0.99532226501895273416],
    ];
    const got = (await erf64(new Tensor('float64', [ref.length], Float64Array.from(ref.map(([x]) => x))))) as Tensor;
    got.toArray().forEach((v, i) => expect(Math.abs(v - ref[i]![1]) / Math.abs(ref[i]![1]), `erf(${ref[i]![0]})`).toBeLessThan(4.5e-16));
  });

  it('float64 matches the positive series over [-4, 4], across the pieces, to 2e-15 (the series rounds too), and saturates beyond', async () => {
    // past |x| ≈ 4 the series' own rounding (a huge sum times a tiny exponential) exceeds an ulp: the mpmath values cover that range
    const xs = Float64Array.from({ length: 2801 }, (_, i) => -7 + i * 0.005);
    const got = ((await erf64(new Tensor('float64', [xs.length], xs))) as Tensor).toArray();
    let worst = 0;
    xs.forEach((x, i) => {
      const g = got[i]!;
      if (Math.abs(x) <= 4) {
        const want = erfSeries(x);
        if (want !== 0) worst = Math.max(worst, Math.abs(g - want) / Math.abs(want));
      } else {
        // erfc(4) < 1.6e-8; the result never passes ±1
        expect(Math.abs(g - Math.sign(x)), `erf(${x})`).toBeLessThan(1.6e-8);
        expect(Math.abs(g)).toBeLessThanOrEqual(1);
      }
    });
    expect(worst).toBeLessThan(2e-15);
    expect(got[0]).toBe(-1);
    expect(got[xs.length - 1]).toBe(1);
  });

  it('float32 (ONNX Erf) agrees with float64 to float32 precision', async () => {
    const x = new Rng(2).randn([200], 'float32', 2);
    const [a, b] = (await jit((x: Value) => [np.erf(x), np.astype(np.erf(np.astype(x, 'float64')), 'float32')])(x)) as Tensor[];
    expect(relErr(a!, b!)).toBeLessThan(3e-7);
  });

  it('derivatives: 2/√π·exp(−x²), in float64, on every piece', async () => {
    const x = new Tensor('float64', [8], Float64Array.from([-3.1, -1.7, -0.9, -0.2, 0.4, 1.2, 2.6, 4.1]));
    await expectGradsOk((x: Value) => np.erf(x), [x]);
  });

  it('vmap maps it elementwise', async () => {
    const x = new Rng(3).randn([3, 4], 'float64');
    const [a, b] = (await jit((x: Value) => [vmap((r: Value) => np.erf(r))(x) as Value, np.erf(x)])(x)) as Tensor[];
    expect(relErr(a!, b!)).toBe(0);
  });
});
