/**
 * convNd and convTransposeNd (1-D and 3-D written with 2-D convolutions): values against
 * convolution loops, the transposed one as the adjoint ⟨convT(u), x⟩ = ⟨u, conv(x)⟩, derivatives.
 */
import { describe, expect, it } from 'vitest';
import { jit, np, Rng, type Tensor, type Value } from '../src/index.js';
import { type ConvNdParams, convNd, convTransposeNd } from '../src/ops/convnd.js';
import { dot, expectGradsOk } from './helpers/gradcheck.js';
import { expectClose, f64, sizeOf, unravel } from './helpers/reference.js';

const rng = new Rng(26);

function convRef(x: Tensor, w: Tensor, p: ConvNdParams): Tensor {
  const d = x.shape.length - 2;
  const [n, c] = x.shape as [number, number];
  const [o, cg] = w.shape as [number, number];
  const k = w.shape.slice(2);
  const sp = x.shape.slice(2);
  const out = sp.map((len, i) => Math.floor((len + p.pads[i]! + p.pads[i + d]! - p.dilations[i]! * (k[i]! - 1) - 1) / p.strides[i]!) + 1);
  const shape = [n, o, ...out];
  const xv = x.toArray();
  const wv = w.toArray();
  const og = o / p.groups;
  return f64(shape, Array.from({ length: sizeOf(shape) }, (_, f) => {
    const [b, oc, ...at] = unravel(f, shape) as number[];
    const g = Math.floor(oc! / og);
    let s = 0;
    for (let ic = 0; ic < cg; ic++) {
      for (let q = 0; q < sizeOf(k); q++) {
        const kk = unravel(q, k);
        const pos = kk.map((j, i) => at[i]! * p.strides[i]! + j * p.dilations[i]! - p.pads[i]!);
        if (pos.some((v, i) => v < 0 || v >= sp[i]!)) continue;
        const xi = [b!, g * cg + ic, ...pos].reduce((a, v, i) => a * x.shape[i]! + v, 0);
        const wi = [oc!, ic, ...kk].reduce((a, v, i) => a * w.shape[i]! + v, 0);
        s += xv[xi]! * wv[wi]!;
      }
    }
    expect(c).toBe(cg * p.groups);
    return s;
  }));
}

// [label, input shape, weight shape, params]
const cases: [string, number[], number[], ConvNdParams][] = [
  ['1-D, stride 2, pads, dilation 2', [2, 2, 10], [3, 2, 3], { strides: [2], dilations: [2], pads: [1, 2], groups: 1 }],
  ['1-D, groups 2', [1, 4, 6], [2, 2, 2], { strides: [1], dilations: [1], pads: [0, 1], groups: 2 }],
  ['3-D, strides and pads', [1, 2, 5, 5, 5], [3, 2, 2, 3, 2], { strides: [2, 1, 2], dilations: [1, 1, 1], pads: [1, 1, 0, 0, 1, 1], groups: 1 }],
  ['3-D, dilations, groups 2', [1, 2, 5, 4, 4], [2, 1, 2, 2, 2], { strides: [1, 1, 1], dilations: [2, 1, 2], pads: [0, 0, 0, 0, 0, 0], groups: 2 }],
];

describe('convNd and convTransposeNd', () => {
  for (const [label, xs, ws, p] of cases) {
    it(`${label}: values, adjointness, float64 derivatives`, async () => {
      const x = rng.randn(xs, 'float64');
      const w = rng.randn(ws, 'float64', 0.5);
      const y = (await jit((x: Value, w: Value) => convNd(x, w, p))(x, w)) as Tensor;
      expectClose(y, convRef(x, w, p), 1e-13);
      // ⟨convT(u), x⟩ = ⟨u, conv(x)⟩ for the transposed conv of the same weight and params (shapes chosen to map back exactly)
      const u = rng.randn([...y.shape], 'float64');
      const back = (await jit((u: Value, w: Value) => convTransposeNd(u, w, p))(u, w)) as Tensor;
      expect([...back.shape]).toEqual(xs);
      expect(Math.abs(dot(back, x) - dot(u, y)) / Math.abs(dot(u, y))).toBeLessThan(1e-12);
      await expectGradsOk((x: Value, w: Value) => convNd(x, w, p), [x, w]);
      await expectGradsOk((u: Value, w: Value) => convTransposeNd(u, w, p), [u, w]);
    });
  }

  it('2-D is conv2d itself', async () => {
    const [x, w] = [rng.randn([1, 2, 5, 5], 'float64'), rng.randn([3, 2, 3, 3], 'float64')];
    const p: ConvNdParams = { strides: [2, 1], dilations: [1, 2], pads: [1, 0, 0, 2], groups: 1 };
    const [a, b] = (await jit((x: Value, w: Value) => [convNd(x, w, p), np.conv2d(x, w, { stride: [2, 1], dilation: [1, 2], padding: [1, 0, 0, 2] })])(x, w)) as Tensor[];
    expectClose(a!, b!, 0);
  });
});
