import { describe, expect, it } from 'vitest';
import { quickstart } from '../examples/quickstart.js';

describe('README quickstart', () => {
  it('runs and one implicit-gradient step lowers the loss', async () => {
    const r = await quickstart();
    expect(r.gradNorm).toBeGreaterThan(0);
    expect(r.after).toBeLessThan(r.before);
  });
});
