/**
 * WebGPU in a real browser: headless Chromium with WebGPU on (SwiftShader's software adapter where
 * no GPU is present) runs a zoo cell, its VJP, the compiled fixed-point solve with its implicit
 * gradients (deq check's chromium-webgpu runtime) and one compiled training step on onnxruntime-web's
 * WebGPU provider, all compared with Node; and records which nodes ran on WebGPU and which fell back.
 * Skipped with a message without Chromium; under CI=true a missing Chromium fails instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumRunners, findChromium, type AdapterInfo, type ChromiumRunners, type DeqCheckWindow, type Page } from '../src/cli/check-runners.js';
import * as deq from '../src/index.js';
import { checkParity, importOnnx, PARITY_SOLVE, parityWire, randomParityInputs, relativeDifference, type ParityReport, type Tensor } from '../src/index.js';
import { makeTrainStep } from '../web/train-step.js';
import { requireOrSkip } from './support/require.js';

const chromium = findChromium();
const present = requireOrSkip('Chromium', chromium !== undefined, 'apt-get install -y chromium', 'the browser WebGPU tests');
/** A GPU the browser could use instead of SwiftShader. */
const hasGpu = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));

const CELL = new Uint8Array(readFileSync(new URL('./fixtures/zoo/gated.opset17.float32.onnx', import.meta.url)));
const inputs = randomParityInputs(CELL, { seed: 11 });
const job = { model: CELL, inputs, solve: PARITY_SOLVE.float32 };

describe.skipIf(!present)('WebGPU in headless Chromium (onnxruntime-web webgpu)', () => {
  let runners: ChromiumRunners;
  let page: Page;

  beforeAll(async () => {
    runners = chromiumRunners({ executable: chromium! });
    const p = await runners.page('webgpu');
    if ('absent' in p) throw new Error(p.absent);
    page = p;
  }, 300_000);

  afterAll(async () => {
    await runners?.close();
  });

  it('the page has a WebGPU adapter: SwiftShader when no GPU is present', async () => {
    const a = (await page.evaluate(() => (window as unknown as DeqCheckWindow).deqCheck.adapter())) as AdapterInfo | { error: string };
    console.log(`navigator.gpu.requestAdapter() reports ${JSON.stringify(a)}`);
    expect('error' in a ? a.error : '').toBe('');
    const info = a as AdapterInfo;
    expect(info.vendor.length + info.architecture.length).toBeGreaterThan(0);
    if (!hasGpu) expect([info.vendor, info.architecture]).toEqual(['google', 'swiftshader']);
  });

  describe('a cell, its VJP, the compiled fixed-point solve and its implicit gradients', () => {
    let report: ParityReport;
    beforeAll(async () => {
      report = await checkParity(CELL, inputs, { runtimes: [runners.webgpu] });
    }, 600_000);

    it('agree with the float64 reference within 1e-4, like Node', () => {
      const row = report.rows[0]!;
      expect(row.reason ?? '').toBe('');
      expect(row).toMatchObject({ runtime: 'chromium-webgpu', status: 'ok', provider: 'webgpu', converged: true });
      for (const [col, d] of Object.entries(row.diff!)) expect(d, col).toBeLessThan(1e-4);
      expect(row.device).toMatch(/^adapter /);
    });

    it('ran most nodes on WebGPU; the nodes that fell back are recorded (the Loop node itself stays on the CPU)', () => {
      const p = report.rows[0]!.placement!;
      expect(p.source).toBe('profile');
      const fellBack = p.fallback.map((n) => `${n.graph}:${n.opType}`);
      console.log(`chromium-webgpu placement: ${JSON.stringify(p.nodes)}, ${p.copies} copies; fell back: ${[...new Set(fellBack)].sort().join(', ')}`);
      expect(p.nodes.webgpu).toBeGreaterThan(0);
      expect(p.nodes.webgpu).toBeGreaterThan(p.nodes.cpu ?? 0);
      expect(p.fallback.every((n) => n.provider === 'CPUExecutionProvider')).toBe(true);
      expect(p.fallback.filter((n) => n.graph === 'solve').map((n) => n.opType)).toContain('Loop');
      expect(p.ops.webgpu).toEqual(expect.arrayContaining(['Gemm', 'Sigmoid', 'Tanh']));
    });
  });

  it('one compiled training step on WebGPU gives Node\'s loss and updated weights', async () => {
    const lr = 0.5;
    const wire = parityWire.encodeJob(job);
    const inBrowser = await page.evaluate(([j, l]) => (window as unknown as DeqCheckWindow).deqCheck.trainStep(j, ['webgpu'], l), [wire, lr] as const);
    expect(inBrowser.provider).toBe('webgpu');
    const model = importOnnx(CELL);
    const step = makeTrainStep(deq, model, job.solve, { runtime: 'node' });
    const node = (await step(model.params, [inputs.values.x!], inputs.cotangent, lr)) as { loss: Tensor; params: Record<string, Tensor> };
    await step.release();
    expect(relativeDifference(parityWire.decodeTensor(inBrowser.loss), node.loss)).toBeLessThan(1e-4);
    expect(Object.keys(inBrowser.params).sort()).toEqual(Object.keys(model.params).sort());
    for (const [k, w] of Object.entries(node.params)) {
      expect(relativeDifference(parityWire.decodeTensor(inBrowser.params[k]!), w), k).toBeLessThan(1e-4);
    }
    // the step moved the weights: the comparison is of an update, not of unchanged inputs
    const moved = Math.max(...Object.entries(node.params).map(([k, w]) => relativeDifference(w, model.params[k]!)));
    expect(moved).toBeGreaterThan(1e-4);
  }, 600_000);
});
