/**
 * checkParity on the cell zoo, for the runtimes that run in this process (onnxruntime-node cpu,
 * onnxruntime-web wasm): the table as data, against a float64 reference. A float32 cell differs from
 * its float64 reference by float32 round-off and the solve tolerance — more than zero, well inside
 * 1e-4 — and a runner whose result is perturbed, absent or broken is reported as such.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkParity, importOnnx, inProcessRunner, InputError, jit, OnnxError, PARITY_SOLVE, parityWire, randomParityInputs, relativeDifference,
  runParityJob, Tensor, toOnnx, np, widenToFloat64, type CellRun, type ParityReport, type ParityRunner,
} from '../src/index.js';

const ZOO = new URL('./fixtures/zoo/', import.meta.url);
const bytesOf = (name: string) => new Uint8Array(readFileSync(new URL(`${name}.onnx`, ZOO)));
interface Entry { shape: number[]; data: number[] }
const referenceOf = (name: string) => JSON.parse(readFileSync(new URL(`${name}.json`, ZOO), 'utf8')) as { z: Entry; x: Entry; g: Entry; f: Entry; fixed_point: Entry; implicit: { x: Entry } };
const t64 = (e: Entry) => new Tensor('float64', e.shape, Float64Array.from(e.data));
const t32 = (e: Entry) => new Tensor('float32', e.shape, Float32Array.from(e.data));

describe('widenToFloat64', () => {
  // the zoo's references are PyTorch float64 autograd of the float32 modules' weights
  for (const name of ['gated.opset17.float32', 'mlp_layernorm.opset13.float32', 'attention_gelu.opset17.float32', 'resnet_groupnorm.opset13.float32']) {
    it(`${name} widened computes f(z, x) in float64, as PyTorch does in float64`, async () => {
      const ref = referenceOf(name);
      const m = importOnnx(widenToFloat64(bytesOf(name)));
      expect(m.inputs.map((i) => i.dtype)).toEqual(['float64', 'float64']);
      expect(Object.values(m.params).every((p) => p.dtype === 'float64')).toBe(true);
      const f = jit((z: Tensor, x: Tensor) => m.fn(z, x)[0]!);
      const y = (await f(t64(ref.z), t64(ref.x))) as Tensor;
      expect(y.dtype).toBe('float64');
      // float64 round-off, not float32's 1e-7
      expect(relativeDifference(y, t64(ref.f))).toBeLessThan(1e-12);
      await f.release();
    });
  }

  it('a float64 model comes back unchanged in meaning', () => {
    const bytes = bytesOf('gated.opset17.float64');
    const a = importOnnx(bytes);
    const b = importOnnx(widenToFloat64(bytes));
    for (const [k, p] of Object.entries(a.params)) expect(relativeDifference(b.params[k]!, p)).toBe(0);
  });
});

describe('checkParity on gated.opset17.float32 (node-cpu, web-wasm)', () => {
  const bytes = bytesOf('gated.opset17.float32');
  const inputs = randomParityInputs(bytes, { seed: 3 });
  let report: ParityReport;

  beforeAll(async () => {
    report = await checkParity(bytes, inputs, { runtimes: ['node-cpu', 'web-wasm'] });
  }, 120_000);

  it('describes the cell, the float64 reference and the tolerance', () => {
    expect(report.cell).toMatchObject({ dtype: 'float32', output: 'z_next', inputs: [{ name: 'z', shape: [2, 16] }, { name: 'x', shape: [2, 16] }] });
    expect(report.cell.params).toHaveLength(9);
    expect(report.reference).toMatchObject({ runtime: 'node-cpu', dtype: 'float64', widened: true });
    // solved to 1e-12 the reference needs more iterations than the float32 runs at 1e-5
    expect(report.reference.iterations.forward).toBeGreaterThan(report.rows[0]!.iterations!.forward);
    expect(report.tolerance).toBe(1e-4);
    expect(report.solve).toEqual(PARITY_SOLVE.float32);
  });

  it('both runtimes agree with the reference within 1e-4, by float32 round-off (above 1e-9)', () => {
    expect(report.ok).toBe(true);
    expect(report.rows.map((r) => [r.runtime, r.status, r.provider])).toEqual([['node-cpu', 'ok', 'cpu'], ['web-wasm', 'ok', 'wasm']]);
    for (const r of report.rows) {
      expect(r.converged).toBe(true);
      for (const [col, d] of Object.entries(r.diff!)) {
        expect(d, `${r.runtime} ${col}`).toBeLessThan(1e-4);
        expect(d, `${r.runtime} ${col}: a float32 run is not float64`).toBeGreaterThan(1e-9);
      }
      // the worst weight is named by its ONNX initializer name
      expect(report.cell.params).toContain(r.worst!.dtheta);
    }
  });

  it('says where each node ran: every node of node-cpu on cpu (profiled), web-wasm on its only provider', () => {
    const [cpu, wasm] = report.rows;
    expect(cpu!.placement!.source).toBe('profile');
    expect(Object.keys(cpu!.placement!.nodes)).toEqual(['cpu']);
    expect(cpu!.placement!.nodes.cpu).toBeGreaterThan(50);
    expect(cpu!.placement!.ops.cpu).toContain('Loop');
    expect(cpu!.placement!.fallback).toEqual([]);
    expect(wasm!.placement).toMatchObject({ source: 'only provider', fallback: [] });
  });

  it('a runtime whose gradient is off by 1e-3 fails, naming the column and the weight; the others still pass', async () => {
    const cpu = inProcessRunner('node-cpu', { runtime: 'node', executionProviders: ['cpu'] });
    const skewed: ParityRunner = {
      name: 'skewed',
      description: 'node-cpu with one gradient perturbed',
      async run(job) {
        const r = (await cpu.run(job)) as CellRun;
        const w = r.implicit.params['wn.bias']!;
        const scale = Math.max(...w.toArray().map(Math.abs));
        const moved = w.toArray().map((v, i) => (i === 0 ? v + 1e-3 * scale : v));
        return { ...r, implicit: { ...r.implicit, params: { ...r.implicit.params, 'wn.bias': new Tensor('float32', [...w.shape], Float32Array.from(moved)) } } };
      },
    };
    const absent: ParityRunner = { name: 'elsewhere', description: 'not here', run: async () => ({ absent: 'not installed' }) };
    const broken: ParityRunner = { name: 'broken', description: 'throws', run: async () => { throw new Error('session failed'); } };
    const r = await checkParity(bytes, inputs, { runtimes: ['node-cpu', skewed, absent] });
    expect(r.rows.map((x) => x.status)).toEqual(['ok', 'fail', 'absent']);
    expect(r.ok).toBe(false);
    const bad = r.rows[1]!;
    expect(bad.worst!.dtheta).toBe('wn.bias');
    expect(bad.diff!.dtheta).toBeGreaterThan(9e-4);
    expect(bad.reason).toMatch(/^dL\/dθ (9\.\de-4|1\.\de-3) > 1e-4 \(wn\.bias\)$/);
    expect(r.rows[2]).toMatchObject({ status: 'absent', reason: 'not installed' });
    // absent runtimes do not fail a check; one that throws does
    expect((await checkParity(bytes, inputs, { runtimes: ['node-cpu', absent] })).ok).toBe(true);
    const withError = await checkParity(bytes, inputs, { runtimes: [broken] });
    expect(withError.rows[0]).toMatchObject({ status: 'error', reason: 'Error: session failed' });
    expect(withError.ok).toBe(false);
  }, 120_000);

  it('a tolerance below float32 round-off fails every column', async () => {
    const r = await checkParity(bytes, inputs, { runtimes: ['node-cpu'], tolerance: { float32: 1e-9 } });
    expect(r.ok).toBe(false);
    expect(r.rows[0]!.status).toBe('fail');
    expect(r.rows[0]!.reason).toMatch(/^f .* > 1e-9; vjp .*; z\* .*; dL\/dx .*; dL\/dθ .*$/);
  }, 60_000);
});

describe('checkParity on a float64 cell', () => {
  it('gated.opset17.float64 agrees within 1e-9 on node-cpu and web-wasm; f and its VJP exactly on node-cpu, the reference runtime', async () => {
    const bytes = bytesOf('gated.opset17.float64');
    const r = await checkParity(bytes, randomParityInputs(bytes, { seed: 1 }), { runtimes: ['node-cpu', 'web-wasm'] });
    expect(r).toMatchObject({ ok: true, tolerance: 1e-9, reference: { widened: false } });
    for (const row of r.rows) for (const d of Object.values(row.diff!)) expect(d).toBeLessThan(1e-9);
    expect(r.rows[0]!.diff!.f).toBe(0);
    expect(r.rows[0]!.diff!.vjp).toBe(0);
  }, 120_000);
});

describe('runParityJob against PyTorch (the zoo reference)', () => {
  it('the fixed point and dL/dx of gated.opset17.float32 on the zoo inputs match PyTorch float64 within 1e-5', async () => {
    const name = 'gated.opset17.float32';
    const ref = referenceOf(name);
    const run = await runParityJob(
      { model: bytesOf(name), inputs: { values: { z: t32(ref.z), x: t32(ref.x) }, cotangent: t32(ref.g) }, solve: { ...PARITY_SOLVE.float32, tol: 1e-6, backwardTol: 1e-6 } },
      { runtime: 'node' },
    );
    expect(run.converged).toBe(true);
    expect(relativeDifference(run.f, t64(ref.f))).toBeLessThan(1e-5);
    expect(relativeDifference(run.zStar, t64(ref.fixed_point))).toBeLessThan(1e-5);
    expect(relativeDifference(run.implicit.inputs.x!, t64(ref.implicit.x))).toBeLessThan(1e-5);
    expect(run.placement).toBeNull(); // not profiled unless asked
  }, 60_000);
});

describe('parityWire', () => {
  it('a job and a run survive encoding bit for bit, NaN and -0 included', async () => {
    const bytes = bytesOf('gated.opset17.float32');
    const inputs = randomParityInputs(bytes, { seed: 5 });
    const odd = new Tensor('float64', [4], Float64Array.from([NaN, -0, Infinity, 1 / 3]));
    const job = { model: bytes, inputs: { ...inputs, values: { ...inputs.values } }, solve: PARITY_SOLVE.float32 };
    const back = parityWire.decodeJob(JSON.parse(JSON.stringify(parityWire.encodeJob(job))));
    expect(back.model).toEqual(bytes);
    expect([...back.inputs.values.x!.data]).toEqual([...inputs.values.x!.data]);
    const t = parityWire.decodeTensor(JSON.parse(JSON.stringify(parityWire.encodeTensor(odd))));
    expect(Object.is(t.data[1], -0)).toBe(true);
    expect([...t.data]).toEqual([NaN, -0, Infinity, 1 / 3]);
    expect(() => parityWire.decodeTensor({ dtype: 'float32', shape: [3], base64: parityWire.toBase64(new Uint8Array(8)) })).toThrow(InputError);
  });
});

describe('bad cells and inputs', () => {
  const bytes = bytesOf('gated.opset17.float32');
  it('inputs that do not fit the cell are refused before anything runs', async () => {
    const inputs = randomParityInputs(bytes);
    await expect(checkParity(bytes, { ...inputs, values: { z: inputs.values.z! } })).rejects.toThrow(/takes inputs z, x; missing: x/);
    await expect(checkParity(bytes, { ...inputs, cotangent: new Tensor('float32', [3, 16]) })).rejects.toThrow(/cotangent g must be shaped like z/);
    const f64 = randomParityInputs(bytesOf('gated.opset17.float64'));
    await expect(checkParity(bytes, f64)).rejects.toThrow(/input z must be float32\[\?, 16\], got float64\[2, 16\]/);
  });

  it('a model that is not a cell (two outputs; a state unlike the output) is named as such', async () => {
    const z = new Tensor('float32', [2, 4]);
    const twoOutputs = toOnnx((zz: Tensor, x: Tensor) => ({ a: np.add(zz, x), b: x }), { z, x: z }).bytes;
    await expect(checkParity(twoOutputs, randomParityInputs(bytes))).rejects.toThrow(/has 2 outputs \(a, b\); a cell has one, z_next/);
    const wide = toOnnx((zz: Tensor, x: Tensor) => np.concat([zz, x], 1), { z, x: z }).bytes;
    expect(() => randomParityInputs(wide)).toThrow(/the first input \(z: float32\[\?, 4\]\) must be the float state z, shaped like the output/);
    await expect(checkParity(new Uint8Array([1, 2, 3]), randomParityInputs(bytes))).rejects.toThrow(OnnxError);
  });
});
