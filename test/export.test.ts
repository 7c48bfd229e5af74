/** exportOnnx / loadOnnx: files that any onnxruntime can run, and bad files that never crash. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx, grad, jit, loadOnnx, np, OnnxError, Rng, Tensor, toOnnx, TraceError, vjp, type Value } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'deq-onnx-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type P = { W: Value };
const rng = new Rng(11);
const params = { W: rng.randn([5, 5], 'float32', 0.4) };
const z = rng.randn([3, 5], 'float32');
const x = rng.randn([3, 5], 'float32');
const cell = (params: P, z: Value, x: Value) => np.tanh(np.add(np.matmul(z, params.W), x));

const ortTensor = (t: Tensor) => new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, [...t.shape]);
const maxDiff = (a: Tensor, b: ArrayLike<number>) => Math.max(...a.toArray().map((v, i) => Math.abs(v - b[i]!)));

/** Run an .onnx file with onnxruntime-node itself, by input name. */
async function runWithOrt(path: string, feeds: Record<string, Tensor>) {
  const s = await ort.InferenceSession.create(path);
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, ortTensor(v)])));
  await s.release();
  return out;
}

describe('exportOnnx', () => {
  it('writes a cell that onnxruntime-node runs to the same values as jit, named by pytree paths', async () => {
    const path = join(dir, 'cell.onnx');
    const { manifest, bytes } = await exportOnnx(cell, { params, z, x }, path);
    expect(manifest).toEqual({
      file: 'cell.onnx',
      inputs: [
        { name: 'params.W', shape: [5, 5], dtype: 'float32' },
        // z and x carry the batch axis: symbolic in the file (null here), so any batch size runs
        { name: 'z', shape: [null, 5], dtype: 'float32' },
        { name: 'x', shape: [null, 5], dtype: 'float32' },
      ],
      outputs: [{ name: 'output', shape: [null, 5], dtype: 'float32' }],
      opset: 18,
    });
    expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
    // atomic write: nothing but the file itself is left in the folder
    expect(readdirSync(dir).filter((f) => f.startsWith('cell'))).toEqual(['cell.onnx']);
    const out = await runWithOrt(path, { 'params.W': params.W, z, x });
    const want = await jit(cell)(params, z, x);
    expect(maxDiff(want, out.output!.data as Float32Array)).toBe(0);
  });

  it('writes the VJP graph of the cell: outputs named after the returned pytree', async () => {
    const path = join(dir, 'cell_vjp.onnx');
    const cellVjp = (p: P, z: Value, x: Value, ct: Value) => {
      const [out, pullback] = vjp(cell, p, z, x);
      const [gp, gz, gx] = pullback(ct);
      return { out, grads: { params: gp, z: gz, x: gx } };
    };
    const ct = rng.randn([3, 5], 'float32');
    const { manifest } = await exportOnnx(cellVjp, { params, z, x, ct }, path);
    expect(manifest.outputs.map((o) => o.name)).toEqual(['grads.params.W', 'grads.x', 'grads.z', 'out']);
    const got = await runWithOrt(path, { 'params.W': params.W, z, x, ct });
    const want = await jit(cellVjp)(params, z, x, ct);
    expect(maxDiff(want.out, got.out!.data as Float32Array)).toBe(0);
    expect(maxDiff(want.grads.params.W, got['grads.params.W']!.data as Float32Array)).toBe(0);
    expect(maxDiff(want.grads.z, got['grads.z']!.data as Float32Array)).toBe(0);
    expect(maxDiff(want.grads.x, got['grads.x']!.data as Float32Array)).toBe(0);
    // and the pullback agrees with grad of <cell, ct>
    const g = await grad((p: P, z: Value, x: Value, ct: Value) => np.sum(np.mul(cell(p, z, x), ct)))(params, z, x, ct);
    expect(maxDiff(g.W, got['grads.params.W']!.data as Float32Array)).toBeLessThan(1e-6);
  });

  it('a loss and its gradients as one graph: {loss, grads}', async () => {
    const loss = (p: P, z: Value, x: Value) => np.sum(np.square(cell(p, z, x)));
    const path = join(dir, 'loss_grad.onnx');
    const { manifest } = await exportOnnx((p: P, z: Value, x: Value) => ({ loss: loss(p, z, x), grads: grad(loss)(p, z, x) }), { params, z, x }, path);
    expect(manifest.outputs.map((o) => [o.name, o.shape])).toEqual([['grads.W', [5, 5]], ['loss', []]]);
    const m = await loadOnnx(path);
    const out = await m.run({ 'params.W': params.W, z, x });
    expect(out.loss!.item()).toBeCloseTo((await jit(loss)(params, z, x)).item(), 5);
    await m.release();
  });

  it('positional example arguments and explicit names', async () => {
    const path = join(dir, 'named.onnx');
    const { manifest } = await exportOnnx(cell, [params, z, x], path, { inputNames: ['W', 'z', 'x'], outputNames: ['z_next'] });
    expect(manifest.inputs.map((i) => i.name)).toEqual(['W', 'z', 'x']);
    const out = await runWithOrt(path, { W: params.W, z, x });
    expect(Object.keys(out)).toEqual(['z_next']);
    const { manifest: m2 } = await exportOnnx(cell, [params, z, x], path);
    expect(m2.inputs.map((i) => i.name)).toEqual(['arg0.W', 'arg1', 'arg2']);
    await expect(exportOnnx(cell, [params, z, x], path, { inputNames: ['a'] })).rejects.toThrow(/1 input names given but the graph has 3 inputs/);
  });
});

describe('staging for export', () => {
  it('a function that closes over a traced value of an enclosing transform is a TraceError naming exportOnnx', async () => {
    const f = grad((x: Value) => {
      toOnnx(() => np.mul(x, 2), []);
      return np.sum(x);
    });
    await expect(f(x)).rejects.toThrow(TraceError);
    await expect(f(x)).rejects.toThrow(/^exportOnnx: the function closed over a traced value from an enclosing transform/);
  });
});

describe('loadOnnx', () => {
  const path = join(dir, 'load.onnx');
  const ready = exportOnnx(cell, { params, z, x }, path);

  it('runs a file by input name and checks names, shapes and dtypes first', async () => {
    await ready;
    const m = await loadOnnx(path);
    expect(m.inputs.map((i) => i.name)).toEqual(['params.W', 'z', 'x']);
    expect(m.session.provider).toBe('cpu');
    const out = await m.run({ 'params.W': params.W, z, x });
    expect(maxDiff(out.output!, (await jit(cell)(params, z, x)).data as Float32Array)).toBe(0);
    await expect(m.run({ W: params.W, z, x })).rejects.toThrow(OnnxError);
    await expect(m.run({ W: params.W, z, x })).rejects.toThrow(/unknown: W; missing: params.W/);
    await expect(m.run({ 'params.W': params.W, z, x: x.reshape([5, 3]) })).rejects.toThrow(/input x must be float32\[\?, 5\], got float32\[5, 3\]/);
    await expect(m.run({ 'params.W': params.W, z: z.astype('float64'), x })).rejects.toThrow(/input z must be float32\[\?, 5\], got float64\[3, 5\]/);
    await expect(m.run([params.W, z])).rejects.toThrow(/takes 3 inputs/);
    await m.release();
  });

  it('a truncated file is an OnnxError, wherever it is cut', async () => {
    await ready;
    const bytes = new Uint8Array(readFileSync(path));
    for (const n of [0, 1, 7, 40, bytes.length >> 2, bytes.length >> 1, bytes.length - 20, bytes.length - 1]) {
      const cut = join(dir, `cut_${n}.onnx`);
      writeFileSync(cut, bytes.subarray(0, n));
      await expect(loadOnnx(cut), `cut at ${n} of ${bytes.length}`).rejects.toThrow(OnnxError);
    }
  });

  it('random bytes are an OnnxError', async () => {
    const r = new Rng(1);
    for (let k = 0; k < 25; k++) {
      const junk = Uint8Array.from(r.uniform([64 + 37 * k], 'float64').toArray(), (u) => Math.floor(u * 256));
      await expect(loadOnnx(junk)).rejects.toThrow(OnnxError);
    }
  });

  it('a missing file is an OnnxError naming it', async () => {
    await expect(loadOnnx(join(dir, 'nope.onnx'))).rejects.toThrow(/cannot read .*nope\.onnx/);
  });
});
