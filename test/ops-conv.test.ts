/**
 * conv2d, convTranspose2d and avgPool against naive loops, derivatives against finite differences
 * (float64 lowers to Pad/Slice/MatMul), and float32 (native ONNX Conv / ConvTranspose) against float64.
 */
import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, type Tensor, type Value } from '../src/index.js';
import { convParams, type Conv2dOptions } from '../src/ops/conv.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { conv2dRef, convTranspose2dRef, expectClose } from './helpers/reference.js';

const rng = new Rng(43);

// [label, input shape NCHW, weight shape OIHW, options]
const convCases: [string, number[], number[], Conv2dOptions][] = [
  ['plain 3x3', [2, 3, 5, 5], [4, 3, 3, 3], {}],
  ['stride 2, odd size, padding 1', [1, 2, 7, 7], [3, 2, 3, 3], { stride: 2, padding: 1 }],
  ['stride 2, even size, odd width', [1, 2, 6, 5], [2, 2, 3, 3], { stride: 2 }],
  ['stride 3 larger than the 2x2 kernel', [1, 1, 8, 7], [2, 1, 2, 2], { stride: 3 }],
  ['asymmetric padding, stride [2, 1], dilation [1, 2]', [1, 2, 6, 7], [3, 2, 3, 2], { stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2] }],
  ['dilation 2, same padding', [2, 2, 6, 6], [2, 2, 3, 3], { dilation: 2, padding: 'same' }],
  ['groups 2, stride [1, 2], padding 1', [1, 4, 6, 5], [6, 2, 3, 2], { groups: 2, stride: [1, 2], padding: 1 }],
  ['depthwise, stride 2, dilation 2', [2, 3, 9, 8], [3, 1, 3, 3], { groups: 3, stride: 2, dilation: 2, padding: 2 }],
  ['1x1 kernel, stride 2', [1, 3, 5, 4], [2, 3, 1, 1], { stride: 2 }],
  ['padding larger than the kernel, stride 2', [1, 2, 4, 5], [2, 2, 2, 2], { stride: 2, padding: [3, 2, 1, 3] }],
  ['1x1 kernel with padding 1, stride 2', [1, 2, 4, 3], [3, 2, 1, 1], { stride: 2, padding: 1 }],
];

describe('conv2d (float64)', () => {
  for (const [label, xs, ws, opts] of convCases) {
    it(`${label}: values, JVP, VJP`, async () => {
      const x = rng.randn(xs, 'float64');
      const w = rng.randn(ws, 'float64', 0.5);
      const y = await expectGradsOk((x, w) => np.conv2d(x, w, opts), [x, w]);
      expectClose(y, conv2dRef(x, w, convParams(ws, opts)), 1e-13);
    });
  }

  it('second order: the gradient of a conv network is itself differentiable', async () => {
    const w = rng.randn([3, 2, 3, 3], 'float64', 0.5);
    const inner = grad((x: Value, w: Value) => np.sum(np.tanh(np.conv2d(x, w, { stride: 2, padding: 1 }))), { argnums: [0, 1] });
    const f = (x: Value, w: Value) => {
      const [gx, gw] = inner(x, w) as Value[];
      return np.add(np.sum(np.mul(gx!, gx!)), np.sum(np.mul(gw!, gw!)));
    };
    await expectGradsOk(f, [rng.randn([1, 2, 5, 5], 'float64'), w]);
  });
});

// convTranspose2d(u, w) is the adjoint of conv2d(·, w): [label, conv input shape, weight shape, options]
const transposeCases: [string, number[], number[], Conv2dOptions & { outputPadding?: number | [number, number] }][] = [
  ['stride 1', [1, 2, 5, 5], [3, 2, 3, 3], {}],
  ['stride 2, padding 1', [2, 3, 7, 7], [2, 3, 3, 3], { stride: 2, padding: 1 }],
  ['stride 2, output padding 1 (even size)', [1, 2, 6, 6], [2, 2, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
  ['groups 2, dilation 2, stride [2, 1]', [1, 4, 7, 6], [4, 2, 2, 3], { groups: 2, dilation: 2, stride: [2, 1] }],
  ['padding 2 with a 3x3 kernel, stride 2, output padding [0, 1]', [1, 2, 7, 8], [2, 2, 3, 3], { stride: 2, padding: 2, outputPadding: [0, 1] }],
];

describe('convTranspose2d (float64)', () => {
  for (const [label, xs, ws, opts] of transposeCases) {
    it(`${label}: values, JVP, VJP, and adjointness to conv2d`, async () => {
      const w = rng.randn(ws, 'float64', 0.5);
      const p = convParams(ws, opts);
      const uShape = conv2dRef(rng.randn(xs, 'float64'), w, p).shape;
      const u = rng.randn(uShape, 'float64');
      const y = await expectGradsOk((u, w) => np.convTranspose2d(u, w, opts), [u, w]);
      expect([...y.shape]).toEqual(xs);
      expectClose(y, convTranspose2dRef(u, w, p, [xs[2]!, xs[3]!]), 1e-13);
    });
  }
});

describe('avgPool', () => {
  const cases: [string, number | [number, number], { stride?: number | [number, number]; padding?: number | [number, number] }][] = [
    ['2x2', 2, {}],
    ['3x3 stride 2 padding 1 (padding counted)', 3, { stride: 2, padding: 1 }],
    ['[2, 3] stride 1', [2, 3], { stride: 1 }],
  ];
  for (const [label, k, opts] of cases) {
    it(label, async () => {
      const x = rng.randn([2, 3, 7, 6], 'float64');
      const [kh, kw] = typeof k === 'number' ? [k, k] : k;
      const w = rng.randn([3, 1, kh, kw], 'float64');
      (w.data as Float64Array).fill(1 / (kh * kw));
      const stride = opts.stride ?? [kh, kw];
      const expected = conv2dRef(x, w, convParams([3, 1, kh, kw], { stride, padding: opts.padding ?? 0, groups: 3 }));
      expectClose(await expectGradsOk((x) => np.avgPool(x, k, opts), [x]), expected, 1e-14);
    });
  }
});

describe('float32 native Conv / ConvTranspose against the float64 decomposition', () => {
  const pick = [1, 4, 6, 7, 9, 10].map((i) => convCases[i]!);
  for (const [label, xs, ws, opts] of pick) {
    it(`${label}: values and gradients`, async () => {
      const x = rng.randn(xs, 'float64');
      const w = rng.randn(ws, 'float64', 0.5);
      const v = rng.randn(conv2dRef(x, w, convParams(ws, opts)).shape, 'float64');
      // value, d/dx (a ConvTranspose) and d/dw (a Conv) of <v, conv(x, w)>
      const f = jit((x: Value, w: Value, v: Value) => {
        const loss = (x: Value, w: Value) => np.sum(np.mul(np.conv2d(x, w, opts), v));
        return [np.conv2d(x, w, opts), ...(grad(loss, { argnums: [0, 1] })(x, w) as Value[])];
      });
      const r64 = (await f(x, w, v)) as Tensor[];
      const r32 = (await f(x.astype('float32'), w.astype('float32'), v.astype('float32'))) as Tensor[];
      expect(f.traceCount).toBe(2);
      r32.forEach((t, i) => {
        expect(t.dtype).toBe('float32');
        expect(relErr(t, r64[i]!)).toBeLessThan(1e-5);
      });
    });
  }
});

describe('float32 native ConvTranspose against the float64 decomposition', () => {
  for (const [label, xs, ws, opts] of transposeCases.slice(1)) {
    it(`${label}: values and gradients`, async () => {
      const w = rng.randn(ws, 'float64', 0.5);
      const u = rng.randn(conv2dRef(rng.randn(xs, 'float64'), w, convParams(ws, opts)).shape, 'float64');
      const v = rng.randn(xs, 'float64');
      const f = jit((u: Value, w: Value, v: Value) => {
        const loss = (u: Value, w: Value) => np.sum(np.mul(np.convTranspose2d(u, w, opts), v));
        return [np.convTranspose2d(u, w, opts), ...(grad(loss, { argnums: [0, 1] })(u, w) as Value[])];
      });
      const r64 = (await f(u, w, v)) as Tensor[];
      const r32 = (await f(u.astype('float32'), w.astype('float32'), v.astype('float32'))) as Tensor[];
      r32.forEach((t, i) => {
        expect([...t.shape]).toEqual([...r64[i]!.shape]);
        expect(relErr(t, r64[i]!)).toBeLessThan(1e-5);
      });
    });
  }

  it('avgPool in float32 matches float64', async () => {
    const x = rng.randn([1, 2, 7, 7], 'float64');
    const f = jit((x: Value) => np.avgPool(x, 3, { stride: 2, padding: 1 }));
    const a = (await f(x)) as Tensor;
    const b = (await f(x.astype('float32'))) as Tensor;
    expect(relErr(b, a)).toBeLessThan(1e-6);
  });
});
