/** nodePlacement: which execution provider ran each node, from onnxruntime's profile. */
import { describe, expect, it } from 'vitest';
import { fixedPoint, jit, np, Rng, type Tensor, type Value } from '../src/index.js';
import { nodePlacement } from '../src/extend.js';

const rng = new Rng(5);
const W = rng.randn([16, 16], 'float32', 0.1);
const x = rng.randn([4, 16], 'float32');
const solve = (W: Value, x: Value) => fixedPoint((z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x)), np.zerosLike(x), [x, W], { solver: 'forward', tol: 1e-4, maxIter: 30 }).value;

describe('nodePlacement', () => {
  it('names the provider of every node that ran, Loop body included, and returns the outputs', async () => {
    const f = jit(solve);
    const compiled = await f.compile(W, x);
    const placed = await nodePlacement(compiled.model, [W, x], { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
    expect(placed.provider).toBe('cpu');
    expect(placed.outputs[0]!.toArray()).toEqual(((await f(W, x)) as Tensor).toArray());
    // unoptimised, the cell's Tanh appears twice: in the solver's first step and in the Loop's body
    expect(placed.nodes.filter((n) => n.opType === 'Tanh')).toHaveLength(2);
    expect(placed.nodes.filter((n) => n.opType === 'Loop')).toHaveLength(1);
    expect(new Set(placed.nodes.map((n) => n.provider))).toEqual(new Set(['CPUExecutionProvider']));
    expect(new Set(placed.nodes.map((n) => n.node)).size).toBe(placed.nodes.length);
  });

  it('reports the fallback: cuda cannot load here, so the nodes ran on the cpu', async () => {
    const compiled = await jit(solve).compile(W, x);
    const placed = await nodePlacement(compiled.model, [W, x], { executionProviders: ['cuda', 'cpu'] });
    expect(placed.provider).toBe('cpu');
    expect(placed.nodes.every((n) => n.provider === 'CPUExecutionProvider')).toBe(true);
  });

  it('says onnxruntime-web has no profile to read', async () => {
    const compiled = await jit(solve).compile(W, x);
    await expect(nodePlacement(compiled.model, [W, x], { runtime: 'web' })).rejects.toThrow(/onnxruntime-web writes no profile; use runtime 'node'/);
  });
});
