/**
 * The demo page (dist/demo, `npm run demo`) in headless Chromium, driven through its controls:
 * - the wasm page trains the MLP DEQ for two epochs of 25 steps, and its per-step losses, epoch
 *   metrics and test error match the same run in Node (onnxruntime-node) to float32 round-off; the
 *   command it prints is a `deq train` command that describes the same run; a digit drawn on the
 *   canvas is predicted; a cell file checked against its float64 reference;
 * - the WebGPU page (SwiftShader's software adapter where no GPU is present) trains 3 steps of the
 *   same run, matching Node to 1e-4 (WebGPU's kernels round differently), says where the nodes ran
 *   from onnxruntime's profile, and checks the cell on WebGPU against wasm.
 * Page errors and console errors fail the test; a screenshot of the wasm page goes to
 * .cache/demo-page.png. Without Chromium it is skipped with a message (under CI=true it fails).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../src/cli/args.js';
import { CHROMIUM_ARGS, findChromium } from '../src/cli/check-runners.js';
import { trainConfigFromFlags, trainSpec } from '../src/cli/train.js';
import { nn } from '../src/index.js';
import { loadBundledDigits, trainEpochs, type TrainConfig, type TrainResult } from '../src/train/index.js';
import type { TrainingState } from '../demo/training.js';
import type { CellResult } from '../demo/cell.js';
import type { Prediction } from '../demo/drawing.js';
import { startFolderServer, type Served } from '../web/serve.mjs';
import { requireOrSkip } from './support/require.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const chromiumPath = findChromium();
const present = requireOrSkip('Chromium', chromiumPath !== undefined, 'apt-get install -y chromium', 'the demo page tests');
const CELL = join(root, 'test', 'fixtures', 'zoo', 'gated.opset17.float32.onnx');
/**
 * The run both pages train: two epochs of 25 steps of batch 20. Seed 1, because every forward solve
 * of its run converges: a solve that stops at maxIter unconverged ends wherever round-off steers it,
 * and the two runs part from there (seed 3 has three such steps at its 16th).
 */
const RUN = { batch: '20', samples: '500', epochs: '2', seed: '1' };
const WEBGPU_STEPS = 3;

type DemoWindow = { deqDemo: { ready: boolean; error?: string; env: { provider: string; crossOriginIsolated: boolean; adapter: { description?: string; absent?: string } }; training: TrainingState; drawing(): Prediction | null; cell(): CellResult | { error: string } | null } };

/** |a − b| / max(1, |b|), the largest over two equally long lists. */
const worst = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!) / Math.max(1, Math.abs(b[i]!))));

describe.skipIf(!present)('the demo page in headless Chromium', () => {
  let server: Served;
  let context: BrowserContext;
  let profile: string;
  let node: { losses: number[]; unconverged: number; result: TrainResult };

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), 'demo'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`the demo page failed to build: ${build.stderr}`);
    server = await startFolderServer(join(root, 'dist', 'demo'));
    profile = mkdtempSync(join(tmpdir(), 'deq-demo-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 } });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** Open the page; every page error and console error is kept (and asserted empty by the tests). */
  async function open(query: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    await page.goto(`${server.url}/${query}`);
    await page.waitForFunction(() => (window as unknown as DemoWindow).deqDemo?.ready === true, undefined, { timeout: 120_000 });
    const failed = await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.error);
    if (failed) throw new Error(`the page did not start: ${failed}`);
    return { page, errors };
  }

  /** Fill in RUN, press Train, and wait for `steps` steps (then pause) or for the run to end. */
  async function train(page: Page, steps: number): Promise<TrainingState> {
    for (const [name, value] of Object.entries(RUN)) await page.fill(`input[name=${name}]`, value);
    await page.click('#start');
    await page.waitForFunction((n) => {
      const t = (window as unknown as DemoWindow).deqDemo.training;
      return t.steps.length >= n || ['done', 'failed'].includes(t.status);
    }, steps, { timeout: 600_000, polling: 250 });
    if ((await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.training.status)) === 'running') await page.click('#pause');
    return page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as DemoWindow).deqDemo.training)) as TrainingState);
  }

  /** The same run in Node, on onnxruntime-node: the losses of its steps and its result. */
  async function inNode(config: TrainConfig): Promise<{ losses: number[]; unconverged: number; result: TrainResult }> {
    const losses: number[] = [];
    let unconverged = 0;
    const result = await trainEpochs(config, loadBundledDigits(), nn.makeModel('mlp', config.deq), {
      runtime: { runtime: 'node', executionProviders: ['cpu'] },
      onBatch: (p) => {
        losses.push(p.report.loss);
        if (p.report.forward && !p.report.forward.converged) unconverged++;
      },
    });
    return { losses, unconverged, result };
  }

  describe('wasm', () => {
    let page: Page;
    let errors: string[];
    let state: TrainingState;

    beforeAll(async () => {
      ({ page, errors } = await open('?ep=wasm'));
      state = await train(page, 50);
      node = await inNode(state.config!);
    }, 600_000);

    afterAll(async () => {
      mkdirSync(join(root, '.cache'), { recursive: true });
      await page?.screenshot({ path: join(root, '.cache', 'demo-page.png'), fullPage: true });
      await page?.close();
    });

    it('loads cross-origin isolated with the wasm build, and says so', async () => {
      const env = await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.env);
      expect(env).toMatchObject({ provider: 'wasm', crossOriginIsolated: true });
      expect(await page.textContent('#env')).toMatch(/its wasm build .* cross-origin isolated/);
    });

    it('trains two epochs on wasm: the loss falls, and every step, epoch and the test error are Node\'s', async () => {
      expect(state.error).toBeNull();
      expect(state).toMatchObject({ status: 'done', provider: 'wasm' });
      expect(state.placement!.nodes).toEqual({ cpu: expect.any(Number) });
      const losses = state.steps.map((s) => s.loss);
      expect(losses).toHaveLength(50);
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) - 0.5);
      // the same seed, batches and compiled step: float32 round-off apart (wasm's kernels and the native CPU's)
      expect(node.losses).toHaveLength(50);
      expect(node.unconverged).toBe(0);
      expect(worst(losses, node.losses)).toBeLessThan(1e-4);
      expect(state.epochs).toHaveLength(2);
      state.epochs.forEach((m, i) => {
        const n = node.result.history[i]!;
        expect(Math.abs(m.trainLoss - n.trainLoss)).toBeLessThan(1e-4);
        expect(Math.abs(m.valLoss - n.valLoss)).toBeLessThan(1e-4);
        // an arg-max may flip on round-off: at most 2 of the 1,000 validation and 2,000 test digits
        expect(Math.abs(m.valError - n.valError)).toBeLessThanOrEqual(2 / 1000);
      });
      expect(Math.abs(state.test!.error - node.result.test.error)).toBeLessThanOrEqual(2 / 2000);
      expect(state.test!.samples).toBe(2000);
    });

    it('prints the deq train command of the same run', async () => {
      const command = (await page.textContent('#command'))!;
      const argv = command.replace(/^npm run train -- /, '').split(' ');
      const flags = parseFlags(trainSpec, argv);
      if (E.isLeft(flags)) throw flags.left;
      const cli = trainConfigFromFlags(flags.right);
      if (E.isLeft(cli)) throw cli.left;
      const { trace, ...deq } = state.config!.deq as Record<string, unknown>;
      expect(trace).toBe(true); // the page's only addition: residuals per iteration for its plot
      const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
      expect(defined({ ...cli.right.config, deq: defined(cli.right.config.deq as object) })).toEqual(defined({ ...state.config!, deq }));
    });

    it('shows the CLI\'s table, the loss curve, the residual plot and the throughput row', async () => {
      expect(await page.textContent('#table')).toMatch(/^\s*epoch\s+lr\s+train err/);
      expect(await page.locator('#loss-chart svg polyline').count()).toBeGreaterThan(2);
      // forward and backward residuals of the last step, falling to the tolerance
      const residual = await page.locator('#residual-chart svg').innerHTML();
      expect(residual).toContain('Forward');
      expect(residual).toContain('Backward');
      const row = await page.locator('#runs tbody tr').first().locator('td').allTextContents();
      expect(row.slice(0, 4)).toEqual(['wasm', '1', '20', 'anderson']);
      expect(Number(row[5])).toBeGreaterThan(0);
    });

    it('predicts a digit drawn on the canvas, with its solve', async () => {
      await page.locator('#canvas').scrollIntoViewIfNeeded();
      const box = (await page.locator('#canvas').boundingBox())!;
      // a "1": one stroke down the middle
      await page.mouse.move(box.x + 150, box.y + 40);
      await page.mouse.down();
      for (let y = 40; y <= 240; y += 10) await page.mouse.move(box.x + 145 + y / 40, box.y + y);
      await page.mouse.up();
      await page.waitForFunction(() => (window as unknown as DemoWindow).deqDemo.drawing() !== null, undefined, { timeout: 120_000, polling: 250 });
      const p = (await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.drawing()))!;
      expect(p.provider).toBe('wasm');
      expect(p.digit).toBe(1);
      expect(await page.textContent('#prediction')).toBe('1');
      expect(p.converged).toBe(true);
      expect(p.trace).toHaveLength(p.iterations);
      expect(p.trace[p.trace.length - 1]!).toBeLessThan(1e-4);
      expect(await page.locator('#draw-chart svg polyline').count()).toBeGreaterThan(1);
      // the 28×28 input: the ink landed in the middle columns
      const ink = await page.evaluate(() => Array.from((document.getElementById('input28') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data));
      const columns = Array.from({ length: 28 }, (_, x) => Array.from({ length: 28 }, (_, y) => ink[4 * (28 * y + x)]!).reduce((a, b) => a + b, 0));
      expect(columns.findIndex((c) => c > 0)).toBeGreaterThan(8);
      expect(27 - [...columns].reverse().findIndex((c) => c > 0)).toBeLessThan(19);
    }, 180_000);

    it('checks a cell file against its float64 reference', async () => {
      await page.setInputFiles('#cell-file', CELL);
      await page.waitForFunction(() => (window as unknown as DemoWindow).deqDemo.cell() !== null, undefined, { timeout: 300_000, polling: 250 });
      const r = (await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.cell())) as CellResult;
      expect('error' in r ? r.error : '').toBe('');
      expect(r.against).toMatch(/^the float64 reference/);
      for (const [column, d] of Object.entries(r.diff)) expect(d ?? 0, column).toBeLessThan(1e-4);
      expect(r.runs[0]!.run.converged).toBe(true);
      expect(await page.textContent('#cell-result')).toContain('Fixed point on wasm');
      expect(errors).toEqual([]);
    }, 300_000);
  });

  describe('WebGPU', () => {
    let page: Page;
    let errors: string[];
    let state: TrainingState;

    beforeAll(async () => {
      ({ page, errors } = await open('?ep=webgpu'));
      state = await train(page, WEBGPU_STEPS);
      node ??= await inNode(state.config!);
    }, 900_000);

    afterAll(async () => {
      await page?.close();
    });

    it(`trains ${WEBGPU_STEPS} steps on WebGPU, Node's to 1e-4, and says where the nodes ran`, async () => {
      const env = await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.env);
      expect(env.adapter.absent ?? '').toBe('');
      expect(state.error).toBeNull();
      expect(state.provider).toBe('webgpu');
      const losses = state.steps.slice(0, WEBGPU_STEPS).map((s) => s.loss);
      expect(losses).toHaveLength(WEBGPU_STEPS);
      expect(worst(losses, node.losses.slice(0, WEBGPU_STEPS))).toBeLessThan(1e-4);
      // from the first step's profile: most nodes on WebGPU; the Loop node itself runs on the CPU
      const { nodes, cpuOps } = state.placement!;
      expect(nodes.webgpu).toBeGreaterThan(nodes.cpu ?? 0);
      expect(cpuOps).toContain('Loop');
      expect(await page.textContent('#progress')).toMatch(/on webgpu \(nodes: \d+ webgpu, \d+ cpu; on the CPU: .*Loop/);
    });

    it('checks a cell file on WebGPU against wasm', async () => {
      await page.setInputFiles('#cell-file', CELL);
      await page.waitForFunction(() => (window as unknown as DemoWindow).deqDemo.cell() !== null, undefined, { timeout: 600_000, polling: 250 });
      const r = (await page.evaluate(() => (window as unknown as DemoWindow).deqDemo.cell())) as CellResult;
      expect('error' in r ? r.error : '').toBe('');
      expect(r.runs.map((p) => p.provider)).toEqual(['webgpu', 'wasm']);
      expect(r.against).toBe('wasm (float32)');
      for (const [column, d] of Object.entries(r.diff)) expect(d ?? 0, column).toBeLessThan(1e-4);
      expect(r.runs[0]!.placement!.nodes.webgpu).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    }, 600_000);
  });
});
