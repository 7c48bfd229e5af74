import { describe, expect, it } from 'vitest';
import { quickstart } from '../examples/quickstart.js';
import { relDist, rows, tanhFixedPointRef, tanhImplicitGradWRef } from './helpers/tanh-deq.js';

describe('README quickstart', () => {
  let ran: ReturnType<typeof quickstart> | undefined;
  const run = () => (ran ??= quickstart());

  it('runs, and one implicit-gradient step lowers the loss', async () => {
    const r = await run();
    expect(r.gradNorm).toBeGreaterThan(0);
    expect(r.after).toBeLessThan(r.before);
  });

  it('its gradient is the implicit function theorem’s, computed independently in float64', async () => {
    const r = await run();
    const n = r.params.W.shape[0]!;
    const classes = r.params.V.shape[1]!;
    const W = r.params.W.toArray();
    const V = r.params.V.toArray();
    const xs = rows(r.x.toArray(), n);
    const labels = r.y.toArray();
    const B = xs.length;
    // z* by Newton, then the mean cross-entropy's gradients: G = (softmax(z* V) − onehot) / B
    const zs = xs.map((x) => tanhFixedPointRef(x, W, 1e-13));
    const G = zs.map((z, b) => {
      const logits = Array.from({ length: classes }, (_, c) => z.reduce((s, v, j) => s + v * V[j * classes + c]!, 0));
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const sum = e.reduce((a, v) => a + v, 0);
      return e.map((v, c) => (v / sum - (c === labels[b] ? 1 : 0)) / B);
    });
    const gV = Array.from({ length: n * classes }, (_, k) => zs.reduce((s, z, b) => s + z[Math.floor(k / classes)]! * G[b]![k % classes]!, 0));
    const dLdz = G.map((g) => Array.from({ length: n }, (_, j) => g.reduce((s, v, c) => s + v * V[j * classes + c]!, 0)));
    const gW = tanhImplicitGradWRef(zs, dLdz, W);

    expect(relDist(r.grads.V.toArray(), gV)).toBeLessThan(1e-3);
    // float32 with solves to tol 1e-4: 8e-5 from the exact gradient here; the identity (Jacobian-free)
    // in place of (I − Jᵀ)⁻¹ is 0.33 off, J in place of Jᵀ 0.52
    const err = relDist(r.grads.W.toArray(), gW);
    expect(err).toBeLessThan(1e-3);
    const jfbLike = tanhImplicitGradWRef(zs, dLdz, new Array<number>(n * n).fill(0));
    expect(relDist(jfbLike, gW)).toBeGreaterThan(50 * err);
  });
});

describe('README: importing a PyTorch cell', () => {
  it('imports the exported ResNetLayer, trains its initializers by name, and the loss falls every step', async () => {
    const { importTorch } = await import('../examples/import-torch.js');
    const r = await importTorch(4);
    expect(r.params).toContain('conv1.weight');
    expect(r.params).toContain('conv2.weight');
    expect(r.converged).toBe(true);
    r.losses.slice(1).forEach((l, i) => expect(l).toBeLessThan(r.losses[i]!));
  });
});
