import { describe, expect, it } from 'vitest';
import { theorem } from '../examples/theorem.js';

describe("the tutorial's theorem (examples/theorem.ts)", () => {
  it('a deep weight-tied network tends to the DEQ, value and gradient; a deep untied one is a DEQ over its stacked activations', async () => {
    const r = await theorem();
    const rows = r.tied.rows;
    expect(r.tied.solverResidual).toBeLessThan(1e-13);
    // depth 1 is far from z*; each deeper network is closer until the solve's own accuracy
    expect(rows[0]!.distance).toBeGreaterThan(1e-2);
    expect(rows[0]!.gradError).toBeGreaterThan(1e-2);
    for (let i = 1; i < rows.length; i++) {
      if (rows[i - 1]!.distance > 1e-13) expect(rows[i]!.distance).toBeLessThan(rows[i - 1]!.distance);
      if (rows[i - 1]!.gradError > 1e-13) expect(rows[i]!.gradError).toBeLessThan(rows[i - 1]!.gradError);
    }
    expect(rows.at(-1)!.depth).toBe(64);
    expect(rows.at(-1)!.distance).toBeLessThan(1e-13);
    expect(rows.at(-1)!.gradError).toBeLessThan(1e-12);

    const c = r.converse;
    const L = c.widths.length - 1;
    expect(c.blocks[1]).toMatch(/^W1ᵀ/);
    // before L iterations the last blocks are still wrong and z̃ is not a fixed point ...
    for (const row of c.rows.slice(0, L - 1)) {
      expect(row.residual).toBeGreaterThan(1e-3);
      expect(row.distance).toBeGreaterThan(1e-3);
    }
    // ... after exactly L it is the deep network's activations, and stays there
    for (const row of c.rows.slice(L - 1)) {
      expect(row.residual).toBeLessThanOrEqual(1e-15);
      expect(row.distance).toBeLessThanOrEqual(1e-15);
    }
    expect(c.solverIterations).toBeLessThanOrEqual(L + 1);
    expect(c.solverDistance).toBeLessThanOrEqual(1e-15);
    expect(c.gradNorm).toBeGreaterThan(0.1);
    expect(c.gradDifference).toBeLessThan(1e-13);
  });
});
