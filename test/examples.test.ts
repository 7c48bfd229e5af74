import { describe, expect, it } from 'vitest';
import { quickstart } from '../examples/quickstart.js';

describe('README quickstart', () => {
  it('runs and one implicit-gradient step lowers the loss', async () => {
    const r = await quickstart();
    expect(r.gradNorm).toBeGreaterThan(0);
    expect(r.after).toBeLessThan(r.before);
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
