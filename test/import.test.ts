/** ONNX import: exported cells come back as differentiable functions; PyTorch's exports match PyTorch. */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { grad, jit, np, OnnxError, Rng, Tensor, type Value } from '../src/index.js';
import { importOnnx, toOnnx } from '../src/index.js';

const { onnx } = onnxProto;
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

/** max |a - b| / max(1, max |b|). */
function err(a: Tensor, b: ArrayLike<number>): number {
  const x = a.toArray();
  expect(x.length).toBe(b.length);
  let d = 0;
  let m = 1;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** A one-node ONNX model written by hand, for ops this library never emits itself. */
function oneNodeModel(opType: string, inputs: [string, number[]][], attrs: Record<string, unknown>[] = [], opset = 18): Uint8Array {
  const vi = (name: string, shape: (number | null)[]) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: shape.map((d) => (d === null ? { dimParam: 'n' } : { dimValue: d })) } } },
  });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: [{ opType, input: inputs.map(([n]) => n), output: ['y'], attribute: attrs }],
      input: inputs.map(([n, s]) => vi(n, s)),
      output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

describe('round trip: export, import, differentiate', () => {
  const rng = new Rng(3);
  const params = { W: rng.randn([4, 4], 'float64', 0.4), b: rng.randn([4], 'float64', 0.1) };
  const x = rng.randn([3, 4], 'float64');
  const cell = (p: { W: Value; b: Value }, x: Value) => np.tanh(np.add(np.add(np.matmul(x, p.W), p.b), x));

  it('the imported cell computes the same values and gradients as the original', async () => {
    const { bytes } = toOnnx(cell, { params, x });
    const m = importOnnx(bytes);
    expect(m.inputs.map((i) => i.name)).toEqual(['params.W', 'params.b', 'x']);
    const imported = (p: { W: Value; b: Value }, x: Value) => m.fn(p.W, p.b, x)[0]!;
    const loss = (f: typeof cell) => (p: { W: Value; b: Value }, x: Value) => np.sum(np.mul(f(p, x), x));
    const [ya, yb] = await Promise.all([jit(cell)(params, x), jit(imported)(params, x)]);
    expect(err(yb, ya.toArray())).toBeLessThan(1e-14);
    const ga = await grad(loss(cell), { argnums: [0, 1] })(params, x);
    const gb = await grad(loss(imported), { argnums: [0, 1] })(params, x);
    expect(err(gb[0].W, ga[0].W.toArray())).toBeLessThan(1e-12);
    expect(err(gb[0].b, ga[0].b.toArray())).toBeLessThan(1e-12);
    expect(err(gb[1], ga[1].toArray())).toBeLessThan(1e-12);
  });

  it('weights saved inside the file are parameters: gradients with respect to them', async () => {
    // bake W into the graph as an initializer, then differentiate the imported model with respect to it
    const { bytes } = toOnnx((x: Value) => cell(params, x), { x });
    const m = importOnnx(bytes);
    const names = Object.keys(m.params);
    expect(names.length).toBeGreaterThanOrEqual(2);
    const wName = names.find((n) => m.params[n]!.shape.length === 2)!;
    const lossImported = (w: Value, x: Value) => np.sum(m.apply({ [wName]: w }, x)[0]!);
    const lossOriginal = (w: Value, x: Value) => np.sum(cell({ W: w, b: params.b }, x));
    const [ga, gb] = await Promise.all([grad(lossOriginal)(params.W, x), grad(lossImported)(m.params[wName]!, x)]);
    expect(err(gb, ga.toArray())).toBeLessThan(1e-12);
  });

  it('a gradient graph exported to ONNX imports and runs', async () => {
    const loss = (p: { W: Value; b: Value }, x: Value) => np.sum(np.square(cell(p, x)));
    const { bytes, manifest } = toOnnx((p: { W: Value; b: Value }, x: Value) => grad(loss)(p, x), { params, x });
    expect(manifest.outputs.map((o) => o.name)).toEqual(['W', 'b']);
    const m = importOnnx(bytes);
    const got = await jit((p: { W: Value; b: Value }, x: Value) => m.fn(p.W, p.b, x))(params, x);
    const want = await grad(loss)(params, x);
    expect(err(got[0], want.W.toArray())).toBeLessThan(1e-12);
    expect(err(got[1], want.b.toArray())).toBeLessThan(1e-12);
  });
});

describe('PyTorch fixtures (made by scripts/make-torch-fixtures.py)', () => {
  interface Entry { shape: number[]; data: number[] }
  interface Ref { inputs: Record<string, Entry>; params: Record<string, Entry>; cotangent: Entry; out: Entry; grads: Record<string, Entry> }
  const f32 = (e: Entry) => new Tensor('float32', e.shape, Float32Array.from(e.data));

  for (const name of ['torch_tanh_cell', 'torch_small_convnet']) {
    it(`${name}: outputs and gradients match PyTorch`, async () => {
      const ref = JSON.parse(readFileSync(fixture(`${name}.json`), 'utf8')) as Ref;
      const m = importOnnx(new Uint8Array(readFileSync(fixture(`${name}.onnx`))), `${name}.onnx`);
      expect(m.inputs.map((i) => i.name)).toEqual(Object.keys(ref.inputs));
      expect(Object.keys(m.params).sort()).toEqual(Object.keys(ref.params).sort());
      for (const [k, e] of Object.entries(ref.params)) expect(err(m.params[k]!, e.data)).toBe(0);

      const inputs = Object.values(ref.inputs).map(f32);
      const ct = f32(ref.cotangent);
      const out = await jit((...xs: Value[]) => m.fn(...xs)[0]!)(...inputs);
      expect(err(out, ref.out.data)).toBeLessThan(1e-5);

      // gradients of sum(out * cotangent) with respect to the weights and every input
      const loss = (p: Record<string, Value>, xs: Value[], c: Value) => np.sum(np.mul(m.apply(p, ...xs)[0]!, c));
      const [gp, gx] = await grad(loss, { argnums: [0, 1] })(m.params as Record<string, Tensor>, inputs, ct);
      for (const k of Object.keys(ref.params)) expect(err(gp[k], ref.grads[k]!.data), k).toBeLessThan(1e-5);
      Object.keys(ref.inputs).forEach((k, i) => expect(err(gx[i], ref.grads[k]!.data), k).toBeLessThan(1e-5));
    });
  }
});

describe('ops without a primitive of their own', () => {
  it('GroupNormalization (opset 18, per-group scale) matches onnxruntime', async () => {
    const rng = new Rng(5);
    const x = rng.randn([2, 4, 3, 3], 'float32');
    const scale = rng.randn([2], 'float32');
    const bias = rng.randn([2], 'float32');
    const attrs = [
      { name: 'num_groups', type: onnx.AttributeProto.AttributeType.INT, i: 2 },
      { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e-5 },
    ];
    const bytes = oneNodeModel('GroupNormalization', [['x', [2, 4, 3, 3]], ['scale', [2]], ['bias', [2]]], attrs);
    const m = importOnnx(bytes);
    const got = await jit((...xs: Value[]) => m.fn(...xs)[0]!)(x, scale, bias);
    const s = await ort.InferenceSession.create(bytes);
    const t = (v: Tensor) => new ort.Tensor('float32', v.data as Float32Array, [...v.shape]);
    const want = (await s.run({ x: t(x), scale: t(scale), bias: t(bias) })).y!;
    expect(err(got, Array.from(want.data as Float32Array))).toBeLessThan(1e-5);
  });

  it('an unsupported op is an OnnxError that names it', () => {
    const bytes = oneNodeModel('LRN', [['x', [1, 2, 3, 3]]]);
    expect(() => importOnnx(bytes)).toThrow(OnnxError);
    expect(() => importOnnx(bytes)).toThrow(/op LRN has no mapping/);
  });

  it('inputs of the wrong shape are an OnnxError naming the input', async () => {
    const m = importOnnx(oneNodeModel('Tanh', [['x', [2, 3]]]));
    await expect(jit((x: Value) => m.fn(x)[0]!)(new Tensor('float32', [3, 2]))).rejects.toThrow(/input x must be float32\[2, 3\], got float32\[3, 2\]/);
  });

  it('garbage bytes are an OnnxError', () => {
    expect(() => importOnnx(new Uint8Array([1, 2, 3, 4, 5, 250, 251]))).toThrow(OnnxError);
  });
});
