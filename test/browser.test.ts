/**
 * In a real browser: the harness page (web/) runs a jit-compiled tanh cell and its gradient on
 * onnxruntime-web (wasm) in headless Chromium, and the results match onnxruntime-node.
 * Needs Debian's chromium (`apt-get install -y chromium`); skipped with a message without it (an error under CI=true).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grad, jit, np, Rng, Tensor, type Value } from '../src/index.js';
import { startServer } from '../web/serve.mjs';
import { requireOrSkip } from './support/require.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = requireOrSkip(CHROMIUM, existsSync(CHROMIUM), 'apt-get install -y chromium', 'the browser tests');

const root = fileURLToPath(new URL('..', import.meta.url));
type Plain = { shape: number[]; data: number[] };
type PageResult = { out: Plain; gradW: Plain; runtime: string; provider: string };

const cell = (p: { W: Value }, z: Value, x: Value) => np.tanh(np.add(np.matmul(z, p.W), x));
const loss = (p: { W: Value }, z: Value, x: Value, ct: Value) => np.sum(np.mul(cell(p, z, x), ct));

const maxRelDiff = (a: Tensor, b: Plain) => {
  expect(b.shape).toEqual([...a.shape]);
  const x = a.toArray();
  const m = Math.max(1, ...x.map(Math.abs));
  return Math.max(...x.map((v, i) => Math.abs(v - b.data[i]!))) / m;
};

describe.skipIf(!haveChromium)('browser (headless Chromium, onnxruntime-web wasm)', () => {
  let server: { url: string; close(): Promise<void> };
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), 'browser'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`browser bundle failed to build: ${build.stderr}`);
    server = await startServer(0);
    profile = mkdtempSync(join(tmpdir(), 'deq-onnx-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-gpu'],
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true, undefined, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('the page loads cross-origin isolated and its demo run succeeds', async () => {
    expect(pageErrors).toEqual([]);
    expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
    expect(await page.textContent('#status')).toMatch(/^ran on onnxruntime-web \(wasm\)/);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`tanh cell and its gradient match onnxruntime-node (${dtype})`, async () => {
      const rng = new Rng(21);
      const W = rng.randn([16, 16], dtype, 0.3);
      const z = rng.randn([5, 16], dtype);
      const x = rng.randn([5, 16], dtype);
      const ct = rng.randn([5, 16], dtype);
      const plain = (t: Tensor): Plain => ({ shape: [...t.shape], data: t.toArray() });
      const inputs = { dtype, W: plain(W), z: plain(z), x: plain(x), ct: plain(ct) };
      const inBrowser = await page.evaluate(
        (i) => (window as unknown as { runTanhCell(i: unknown): Promise<PageResult> }).runTanhCell(i),
        inputs,
      );
      expect([inBrowser.runtime, inBrowser.provider]).toEqual(['web', 'wasm']);
      const [out, g] = await Promise.all([jit(cell)({ W }, z, x), jit(grad(loss))({ W }, z, x, ct)]);
      const tol = dtype === 'float32' ? 1e-5 : 1e-12;
      expect(maxRelDiff(out, inBrowser.out)).toBeLessThan(tol);
      expect(maxRelDiff(g.W, inBrowser.gradW)).toBeLessThan(tol);
    }, 60_000);
  }
});
