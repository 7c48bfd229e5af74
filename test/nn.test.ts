import { describe, expect, it } from 'vitest';
import { jit, Rng, tensor, Tensor, type Value } from '../src/index.js';
import {
  avgPool, batchNorm, conv2d, flatten, groupNorm, initAffine, initBatchNormState, initConv2d, initLinear,
  initResNetCell, initTanhCell, linear, makeModel, resNetCell, tanhCell,
} from '../src/nn/index.js';
import { deqLayer } from '../src/nn/deq.js';
import { relDist, rows, tanhCellRef, tanhFixedPointRef } from './helpers/tanh-deq.js';

const rng = () => new Rng(3);
const maxAbs = (t: Tensor) => Math.max(...t.toArray().map(Math.abs));

describe('initialisers', () => {
  it('follow PyTorch: linear and conv weights and biases within ±1/sqrt(fan_in); ResNet convs N(0, 0.01)', () => {
    const lin = initLinear(rng(), 784, 100);
    expect(lin.W.shape).toEqual([784, 100]);
    expect(lin.b!.shape).toEqual([100]);
    expect(maxAbs(lin.W)).toBeLessThanOrEqual(1 / Math.sqrt(784));
    expect(maxAbs(lin.W)).toBeGreaterThan(0.9 / Math.sqrt(784));
    const conv = initConv2d(rng(), 4, 8, { kernel: 3, bias: true });
    expect(conv.W.shape).toEqual([8, 4, 3, 3]);
    expect(maxAbs(conv.b!)).toBeLessThanOrEqual(1 / 6);
    const cell = initResNetCell(rng(), { channels: 8, innerChannels: 16 });
    const w = cell.conv1.W.toArray();
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(cell.conv1.W.shape).toEqual([16, 8, 3, 3]);
    expect(std).toBeGreaterThan(0.008);
    expect(std).toBeLessThan(0.012);
    expect(initLinear(new Rng(9), 3, 2).W.toArray()).toEqual(initLinear(new Rng(9), 3, 2).W.toArray());
  });
});

describe('layers', () => {
  it('have the expected shapes', async () => {
    const r = rng();
    const x = r.randn([2, 3, 8, 8]);
    const f = jit((x: Value, p: any) => ({
      lin: linear(p.lin, flatten(x)),
      conv: conv2d(p.conv, x),
      strided: conv2d(p.conv, x, { stride: 2 }),
      gn: groupNorm(p.gn, conv2d(p.conv, x), 2),
      pool: avgPool(x, 4),
    }));
    const p = { lin: initLinear(r, 192, 5), conv: initConv2d(r, 3, 4, { bias: true }), gn: initAffine(4) };
    const out = await f(x, p);
    expect(out.lin.shape).toEqual([2, 5]);
    expect(out.conv.shape).toEqual([2, 4, 8, 8]);
    expect(out.strided.shape).toEqual([2, 4, 4, 4]);
    expect(out.gn.shape).toEqual([2, 4, 8, 8]);
    expect(out.pool.shape).toEqual([2, 3, 2, 2]);
  });

  it('linear is x W + b', async () => {
    const p = { W: tensor([[1, 2], [3, 4]]), b: tensor([10, 20]) };
    const y = await jit((p: any, x: Value) => linear(p, x))(p, tensor([[1, 1]]));
    expect(y.toArray()).toEqual([14, 26]);
  });

  it('the cells keep the shape of z', async () => {
    const r = rng();
    const z = r.randn([2, 8, 6, 6]);
    const cellP = initResNetCell(r, { channels: 8, innerChannels: 16 });
    const out = await jit((z: Value, x: Value, p: any) => resNetCell(z, x, p, { groups: 4 }))(z, z, cellP);
    expect(out.shape).toEqual([2, 8, 6, 6]);
    const t = await jit(tanhCell)(r.randn([3, 5]), r.randn([3, 5]), initTanhCell(r, 5));
    expect(t.shape).toEqual([3, 5]);
    expect(maxAbs(t)).toBeLessThan(1);
  });
});

describe('batchNorm', () => {
  // channel 0 holds 1..4, channel 1 holds 10, 10, 10, 14 (N=2, C=2, H=1, W=2)
  const x = tensor([[[[1, 2]], [[10, 10]]], [[[3, 4]], [[10, 14]]]]);
  const params = { scale: tensor([2, 1]), shift: tensor([0, 5]) };
  const state = initBatchNormState(2);
  const bn = (train: boolean) => jit((p: any, s: any, x: Value) => {
    const r = batchNorm(p, s, x, { train, momentum: 0.1 });
    return { y: r.y, state: r.state };
  });

  it('updates running statistics in training mode (unbiased variance, momentum 0.1)', async () => {
    const out = await bn(true)(params, state, x);
    expect(out.state.mean.toArray()[0]).toBeCloseTo(0.9 * 0 + 0.1 * 2.5, 6);
    expect(out.state.mean.toArray()[1]).toBeCloseTo(0.1 * 11, 6);
    // channel 0: biased var 1.25, unbiased 5/3
    expect(out.state.var.toArray()[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 5);
    expect(out.state.var.toArray()[1]).toBeCloseTo(0.9 + 0.1 * 4, 5);
    const y0 = (1 - 2.5) / Math.sqrt(1.25 + 1e-5);
    expect(out.y.toArray()[0]).toBeCloseTo(2 * y0, 4);
    expect(out.y.toArray()[2]).toBeCloseTo(5 + (10 - 11) / Math.sqrt(3 + 1e-5), 4);
  });

  it('uses the running statistics and leaves them alone in eval mode', async () => {
    const s = { mean: tensor([1, 2]), var: tensor([4, 9]) };
    const out = await bn(false)(params, s, x);
    expect(out.state.mean.toArray()).toEqual([1, 2]);
    expect(out.y.toArray()[1]).toBeCloseTo((2 * (2 - 1)) / Math.sqrt(4 + 1e-5), 5);
    expect(out.y.toArray()[3]).toBeCloseTo(5 + (10 - 2) / Math.sqrt(9 + 1e-5), 4);
  });
});

describe('models', () => {
  it('MLP and conv models map [N, 1, 28, 28] to [N, 10] (explicit layer in place of the DEQ)', async () => {
    const x = rng().uniform([2, 1, 28, 28]);
    for (const name of ['mlp', 'conv'] as const) {
      const model = makeModel(name, false);
      const { params, state } = model.init(new Rng(0));
      const run = jit((p: unknown, s: unknown, x: Value) => {
        const o = model.apply(p, s, x, { train: true });
        return { logits: o.logits, state: o.state };
      });
      const out = await run(params, state, x);
      expect(out.logits.shape).toEqual([2, 10]);
      if (name === 'conv') expect(out.state.bn1.mean.shape).toEqual([48]);
    }
  });

  it('the MLP DEQ layer solves to a fixed point of its cell and reports stats', async () => {
    const model = makeModel('mlp', { solver: 'anderson', tol: 1e-5, maxIter: 60 });
    const { params, state } = model.init(new Rng(0));
    const x = rng().uniform([4, 1, 28, 28]);
    const out = await jit((p: any, s: unknown, x: Value) => {
      const o = model.apply(p, s, x, { train: false });
      const parts = model.deqParts!(p, s, x);
      const z = deqLayer(parts.cell, parts.input, parts.cellParams, model.deq).value;
      return { logits: o.logits, z, input: parts.input, converged: o.stats!.converged, iterations: o.stats!.iterations };
    })(params, state, x);
    expect(out.logits.shape).toEqual([4, 10]);
    expect(out.converged.item()).toBe(1);
    expect(out.iterations.item()).toBeGreaterThan(1);

    // not the library's word for it: the residual of z* under the cell, recomputed here, and the
    // logits against a fixed point found independently (Newton's method in float64)
    const p = params as { enc: { W: Tensor; b: Tensor }; cell: { W: Tensor }; dec: { W: Tensor; b: Tensor } };
    const hidden = p.cell.W.shape[0]!;
    const W = p.cell.W.toArray();
    const [encW, encB, decW, decB] = [p.enc.W, p.enc.b, p.dec.W, p.dec.b].map((t) => t.toArray());
    const h = rows(x.toArray(), 784).map((xb) => Array.from({ length: hidden }, (_, i) => xb.reduce((s, v, k) => s + v * encW[k * hidden + i]!, encB[i]!)));
    expect(relDist(out.input.toArray(), h.flat())).toBeLessThan(1e-6);
    const zs = rows(out.z.toArray(), hidden);
    const logits = rows(out.logits.toArray(), 10);
    zs.forEach((z, b) => {
      expect(relDist(tanhCellRef(z, h[b]!, W), z)).toBeLessThan(1e-4);
      const ref = tanhFixedPointRef(h[b]!, W);
      expect(relDist(z, ref)).toBeLessThan(1e-4);
      const refLogits = Array.from({ length: 10 }, (_, c) => ref.reduce((s, v, j) => s + v * decW[j * 10 + c]!, decB[c]!));
      expect(relDist(logits[b]!, refLogits)).toBeLessThan(1e-4);
    });
  });
});
