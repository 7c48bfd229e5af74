/**
 * layerNorm / groupNorm in float32 run as one ONNX LayerNormalization (float64 spells the same
 * maths out, checked by the float64 gradient checks of ops-composites and ops-second-order): their
 * values and gradients in float32 agree with float64 on both runtimes.
 */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { grad, jit, type JitOptions, np, Rng, Tensor, type Value } from '../src/index.js';

const { onnx } = onnxProto;
const rng = new Rng(99);

const f32 = (t: Tensor) => new Tensor('float32', t.shape, Float32Array.from(t.toArray()));
function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = a.toArray(), y = b.toArray();
  const scale = Math.max(...y.map(Math.abs));
  return Math.max(...x.map((v, i) => Math.abs(v - y[i]!))) / scale;
}

describe('layerNorm and groupNorm in float32', () => {
  const x = rng.randn([4, 6, 5, 5], 'float64', 3);
  const ct = rng.randn([4, 6, 5, 5], 'float64');
  const fns: [string, (v: Value) => Value][] = [
    ['layerNorm over the last two axes', (v) => np.layerNorm(v, 2)],
    ['groupNorm, 3 groups', (v) => np.groupNorm(v, 3)],
  ];
  for (const [runtime, opts] of [['node', {}], ['web', { runtime: 'web' }]] as [string, JitOptions][]) {
    for (const [name, fn] of fns) {
      it(`${name} (${runtime}): values and gradients agree with float64`, async () => {
        const loss = (v: Value, c: Value) => np.sum(np.mul(fn(v), c));
        const [y64, g64] = (await jit((v: Value, c: Value) => [fn(v), grad(loss)(v, c)], opts)(x, ct)) as Tensor[];
        const [y32, g32] = (await jit((v: Value, c: Value) => [fn(v), grad(loss)(v, c)], opts)(f32(x), f32(ct))) as Tensor[];
        expect(maxRelDiff(y32!, y64!)).toBeLessThan(1e-5);
        expect(maxRelDiff(g32!, g64!)).toBeLessThan(1e-4);
      });
    }
  }

  it('is one LayerNormalization node', async () => {
    const model = (await jit((v: Value) => np.groupNorm(v, 3)).compile(f32(x))).model;
    const ops = (onnx.ModelProto.decode(model).graph!.node ?? []).map((n) => n.opType);
    expect(ops.filter((o) => o === 'LayerNormalization')).toHaveLength(1);
    expect(ops).not.toContain('ReduceMean');
  });
});
