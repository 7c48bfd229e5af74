/**
 * maxPool (a primitive: ONNX MaxPool forward, JVP from window slices) and averagePool (a composite:
 * one depthwise conv where every window counts all its cells, window slices elsewhere) in 1, 2 and 3
 * spatial dimensions: values against window loops, float32 against float64, float64
 * derivatives, the Indices output, vmap.
 */
import { describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, type Tensor, vmap, type Value } from '../src/index.js';
import { bind1 } from '../src/core/trace.js';
import { averagePool, maxPoolIndicesP, type PoolParams, pooledSize } from '../src/ops/pool.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { expectClose, f64, sizeOf, unravel } from './helpers/reference.js';

const rng = new Rng(23);

/** Pooling by loops over each window's cells: max (and the first argmax) or average. */
function poolRef(x: Tensor, p: PoolParams, kind: 'max' | 'avg', countIncludePad = false): { y: Tensor; argmax: number[] } {
  const d = x.shape.length - 2;
  const sp = x.shape.slice(2);
  const out = sp.map((n, i) => pooledSize(n, p.kernel[i]!, p.strides[i]!, p.dilations[i]!, p.pads[i]!, p.pads[i + d]!, p.ceilMode));
  const shape = [x.shape[0]!, x.shape[1]!, ...out];
  const src = x.toArray();
  const argmax: number[] = [];
  const y = Array.from({ length: sizeOf(shape) }, (_, f) => {
    const o = unravel(f, shape);
    let best = -Infinity;
    let arg = -1;
    let total = 0;
    let count = 0;
    for (let k = 0; k < sizeOf(p.kernel); k++) {
      const kk = unravel(k, p.kernel);
      const pos = kk.map((j, i) => o[i + 2]! * p.strides[i]! + j * p.dilations[i]! - p.pads[i]!);
      const inside = pos.every((v, i) => v >= 0 && v < sp[i]!);
      const inPadded = pos.every((v, i) => v >= -p.pads[i]! && v < sp[i]! + p.pads[i + d]!);
      if (countIncludePad ? inPadded : inside) count++;
      if (!inside) continue;
      const flat = [o[0]!, o[1]!, ...pos].reduce((a, v, i) => a * x.shape[i]! + v, 0);
      total += src[flat]!;
      if (src[flat]! > best) [best, arg] = [src[flat]!, flat];
    }
    argmax.push(arg);
    return kind === 'max' ? best : total / count;
  });
  return { y: f64(shape, y), argmax };
}

const params = (kernel: number[], o: Partial<PoolParams> = {}): PoolParams => ({
  kernel,
  strides: o.strides ?? kernel.map(() => 1),
  dilations: o.dilations ?? kernel.map(() => 1),
  pads: o.pads ?? [...kernel, ...kernel].map(() => 0),
  ceilMode: o.ceilMode ?? false,
});

// [label, input shape, params]
const cases: [string, number[], PoolParams][] = [
  ['1-D, stride 2, pads', [2, 2, 9], params([3], { strides: [2], pads: [1, 2] })],
  ['2-D, 3x3 stride 2, pads 1', [1, 2, 7, 6], params([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] })],
  ['2-D, dilations and ceil mode', [1, 1, 7, 8], params([2, 3], { strides: [2, 2], dilations: [2, 1], ceilMode: true })],
  ['3-D', [1, 2, 4, 5, 4], params([2, 2, 2], { strides: [1, 2, 2], pads: [0, 1, 0, 1, 0, 1] })],
];

describe('maxPool', () => {
  for (const [label, shape, p] of cases) {
    it(`${label}: values, float32 against float64, float64 derivatives`, async () => {
      const x = rng.randn(shape, 'float64');
      const opts = { stride: p.strides, dilation: p.dilations, padding: p.pads, ceilMode: p.ceilMode };
      const f = (x: Value) => np.maxPool(x, p.kernel, opts);
      expectClose((await jit(f)(x)) as Tensor, poolRef(x, p, 'max').y, 0);
      const y32 = (await jit((x: Value) => np.astype(f(np.astype(x, 'float32')), 'float64'))(x)) as Tensor;
      expect(relErr(y32, poolRef(x, p, 'max').y)).toBeLessThan(1e-7);
      await expectGradsOk(f, [x]);
    });
  }

  it('the Indices output names the first maximum of each window', async () => {
    const p = params([2, 2], { pads: [1, 0, 0, 1] });
    const x = rng.randn([2, 2, 4, 5], 'float64');
    const idx = (await jit((x: Value) => bind1(maxPoolIndicesP, [x], { ...p, storageOrder: 0 }))(x)) as Tensor;
    expect(idx.dtype).toBe('int64');
    expect(idx.toArray()).toEqual(poolRef(x, p, 'max').argmax);
  });

  it('ties: the derivative goes to the first maximum only', async () => {
    const x = f64([1, 1, 2, 2], [1, 3, 3, 2]);
    const g = (await jit((x: Value) => np.sum(np.maxPool(x, [2, 2])))(x)) as Tensor;
    expect(g.toArray()).toEqual([3]);
    const dx = (await grad((x: Value) => np.sum(np.maxPool(x, [2, 2])))(x)) as Tensor;
    expect(dx.toArray()).toEqual([0, 1, 0, 0]);
  });

  it('vmap pools each example', async () => {
    const x = rng.randn([3, 2, 2, 5, 5], 'float64');
    const f = (r: Value) => np.maxPool(r, [2, 2], { stride: 2 });
    const [a, b] = (await jit((x: Value) => [vmap(f)(x) as Value, np.reshape(f(np.reshape(x, [6, 2, 5, 5])), [3, 2, 2, 2, 2])])(x)) as Tensor[];
    expectClose(a!, b!, 0);
  });
});

describe('averagePool', () => {
  for (const [label, shape, p] of cases) {
    for (const include of [false, true]) {
      it(`${label}, count_include_pad ${include ? 1 : 0}: values and float64 derivatives`, async () => {
        const x = rng.randn(shape, 'float64');
        const f = (x: Value) => averagePool(x, p, include);
        expectClose((await jit(f)(x)) as Tensor, poolRef(x, p, 'avg', include).y, 1e-15);
        await expectGradsOk(f, [x]);
      });
    }
  }
});

describe('np.maxPool and np.avgPool (PyTorch defaults)', () => {
  it('the stride defaults to the kernel size', async () => {
    const x = rng.randn([2, 3, 6, 9], 'float64');
    const p = params([2, 3], { strides: [2, 3] });
    expectClose((await jit((x: Value) => np.maxPool(x, [2, 3]))(x)) as Tensor, poolRef(x, p, 'max').y, 0);
    expectClose((await jit((x: Value) => np.avgPool(x, [2, 3]))(x)) as Tensor, poolRef(x, p, 'avg').y, 1e-15);
    const cube = rng.randn([1, 2, 4, 4, 6], 'float64');
    expectClose((await jit((x: Value) => np.avgPool(x, 2))(cube)) as Tensor, poolRef(cube, params([2, 2, 2], { strides: [2, 2, 2] }), 'avg').y, 1e-15);
  });

  it('avgPool counts padding cells unless countIncludePad is false; both differentiate', async () => {
    const x = rng.randn([2, 2, 10], 'float64');
    const p = params([3], { strides: [3], pads: [1, 1] });
    const counted = await expectGradsOk((x) => np.avgPool(x, 3, { padding: 1 }), [x]);
    expectClose(counted, poolRef(x, p, 'avg', true).y, 1e-15);
    const inputOnly = await expectGradsOk((x) => np.avgPool(x, 3, { padding: 1, countIncludePad: false }), [x]);
    expectClose(inputOnly, poolRef(x, p, 'avg', false).y, 1e-15);
  });
});
