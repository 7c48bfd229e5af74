/**
 * Training throughput of the MLP DEQ in the browser and in Node, side by side in one run: the demo
 * page (dist/demo) in headless Chromium on onnxruntime-web's wasm provider with 1 and N threads and
 * on its WebGPU provider (SwiftShader's software adapter where the machine has no GPU), against
 * onnxruntime-node's CPU provider with the same threads, all on the same run (the page's settings,
 * its seed and batches). Each repeat gives each side a fresh page (or trainer): its first
 * `--warmup` steps (the first compiles) are left out and the median step over the next `--steps`
 * is its throughput; the table shows the median over repeats and their range.
 *
 *   npm run bench:browser [-- --repeats 3 --steps 10 --warmup 2 --webgpu-steps 3 --threads N --batch 100 --sides LIST]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../src/cli/check-runners.js';
import { nn } from '../src/index.js';
import { loadBundledDigits, trainEpochs, type TrainConfig } from '../src/train/index.js';
import type { TrainingState } from '../demo/training.js';
import { startFolderServer } from '../web/serve.mjs';
import { median } from './stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: f } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'webgpu-steps': { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '100' },
    sides: { type: 'string', default: 'node-1,wasm-1,node-N,wasm-N,webgpu' },
  },
});
const int = (k: keyof typeof f, min: number) => {
  const v = Number(f[k]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${k} must be a whole number ≥ ${min}, got ${f[k]}`);
  return v;
};
const repeats = int('repeats', 1), steps = int('steps', 1), warmup = int('warmup', 1), webgpuSteps = int('webgpu-steps', 1), threads = int('threads', 1), batch = int('batch', 1);

interface Side { name: string; where: 'node' | 'chromium'; provider: 'cpu' | 'wasm' | 'webgpu'; threads: number; steps: number }
const known: Record<string, Side> = {
  'node-1': { name: 'onnxruntime-node, cpu, 1 thread', where: 'node', provider: 'cpu', threads: 1, steps },
  'node-N': { name: `onnxruntime-node, cpu, ${threads} threads`, where: 'node', provider: 'cpu', threads, steps },
  'wasm-1': { name: 'Chromium, onnxruntime-web wasm, 1 thread', where: 'chromium', provider: 'wasm', threads: 1, steps },
  'wasm-N': { name: `Chromium, onnxruntime-web wasm, ${threads} threads`, where: 'chromium', provider: 'wasm', threads, steps },
  webgpu: { name: 'Chromium, onnxruntime-web webgpu', where: 'chromium', provider: 'webgpu', threads: 1, steps: webgpuSteps },
};
const sides = f.sides!.split(',').map((s) => {
  const side = known[s.trim()];
  if (!side) throw new Error(`--sides: unknown side ${s}; the sides are ${Object.keys(known).join(', ')}`);
  return side;
});

const log = (s: string) => process.stderr.write(`${s}\n`);

const chromiumPath = findChromium();
if (!chromiumPath && sides.some((s) => s.where === 'chromium')) throw new Error('no Chromium (apt-get install -y chromium)');
if (!existsSync(join(root, 'dist', 'demo', 'index.html')) || process.env.DEQ_BENCH_REBUILD) {
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), 'demo'], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('building the demo page failed');
}
const server = await startFolderServer(join(root, 'dist', 'demo'));
const profile = mkdtempSync(join(tmpdir(), 'deq-bench-chromium-'));
const context: BrowserContext = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
type DemoWindow = { deqDemo: { ready: boolean; error?: string; env: { adapter: { description?: string; absent?: string } }; training: TrainingState } };

const data = loadBundledDigits();
let config: TrainConfig | undefined;
let adapter = '';

/** One side's step times (seconds per step, after the warm-up) and the provider its session ran on. */
async function measure(side: Side): Promise<{ seconds: number[]; provider: string }> {
  const total = warmup + side.steps;
  if (side.where === 'node') {
    if (!config) throw new Error('the Node sides take the page\'s run: put a Chromium side first');
    const seconds: number[] = [];
    let provider = '';
    const abort = new AbortController();
    await trainEpochs(config, data, nn.makeModel('mlp', config.deq), {
      runtime: { runtime: 'node', executionProviders: ['cpu'], intraOpNumThreads: side.threads },
      signal: abort.signal,
      onProvider: (p) => void (provider = p),
      onBatch: (p) => {
        seconds.push(p.seconds);
        if (seconds.length >= total) abort.abort();
      },
    }).catch((e) => {
      if (!abort.signal.aborted) throw e;
    });
    return { seconds: seconds.slice(warmup), provider };
  }
  const page = await context.newPage();
  try {
    await page.goto(`${server.url}/?ep=${side.provider}&threads=${side.threads}`);
    await page.waitForFunction(() => (window as unknown as DemoWindow).deqDemo?.ready === true, undefined, { timeout: 300_000 });
    const env = await page.evaluate(() => (window as unknown as DemoWindow).deqDemo);
    if (env.error) throw new Error(env.error);
    if (side.provider === 'webgpu') adapter = env.env.adapter.description ?? `none (${env.env.adapter.absent})`;
    await page.fill('input[name=batch]', String(batch));
    await page.fill('input[name=epochs]', '1');
    await page.click('#start');
    await page.waitForFunction((n) => {
      const t = (window as unknown as DemoWindow).deqDemo.training;
      return t.steps.length >= n || t.status === 'failed' || t.status === 'done';
    }, total, { timeout: 3_600_000, polling: 200 });
    const t = await page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as DemoWindow).deqDemo.training)) as TrainingState);
    if (t.error) throw new Error(t.error);
    config ??= t.config!;
    return { seconds: t.steps.slice(warmup, total).map((s) => s.seconds), provider: t.provider ?? '?' };
  } finally {
    await page.close();
  }
}

const load0 = loadavg();
const results = new Map<Side, { perSecond: number; provider: string }[]>(sides.map((s) => [s, []]));
const order = [...sides.filter((s) => s.where === 'chromium'), ...sides.filter((s) => s.where === 'node')];
try {
  for (let r = 0; r < repeats; r++) {
    for (const side of order) {
      log(`repeat ${r + 1}/${repeats}: ${side.name}…`);
      const m = await measure(side);
      const perSecond = batch / median(m.seconds);
      results.get(side)!.push({ perSecond, provider: m.provider });
      log(`  ${perSecond.toFixed(0)} samples/s (${m.provider}; step ${(1000 * median(m.seconds)).toFixed(1)} ms, median of ${m.seconds.length})`);
    }
  }
} finally {
  await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
const load1 = loadavg();

const cpuModel = cpus()[0]?.model ?? '?';
const chromiumVersion = chromiumPath ? spawnSync(chromiumPath, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
console.log(`## MLP DEQ training throughput: browser and Node\n`);
console.log(`${availableParallelism()} cores (${cpuModel}); load average ${load0.map((l) => l.toFixed(1)).join(', ')} at the start, ${load1.map((l) => l.toFixed(1)).join(', ')} at the end; ${chromiumVersion}; WebGPU adapter: ${adapter || 'not measured'}.`);
const deq = config?.deq === false ? undefined : config?.deq;
console.log(`Run: the demo page's (\`${deq ? `--solver ${deq.solver} --tol ${deq.tol} --backward ${deq.backward}` : ''}\`, seed ${config?.seed}), batch ${batch}; per side and repeat a fresh page or trainer, ${warmup} warm-up steps, then the median of ${steps} steps (WebGPU: ${webgpuSteps}); ${repeats} repeats.\n`);
console.log('| side | provider that ran | samples / s, median (min–max) | ms / step | vs onnxruntime-node, same threads |');
console.log('|---|---|---|---|---|');
const nodeSide = (threadCount: number) => sides.find((s) => s.where === 'node' && s.threads === threadCount);
for (const side of sides) {
  const rs = results.get(side)!;
  const v = rs.map((r) => r.perSecond);
  const med = median(v);
  const ref = nodeSide(side.threads);
  const refMed = ref ? median(results.get(ref)!.map((r) => r.perSecond)) : NaN;
  const ratio = side.where === 'node' || !ref ? '' : `${(refMed / med).toFixed(1)}× slower`;
  console.log(`| ${side.name} | ${[...new Set(rs.map((r) => r.provider))].join(', ')} | **${med.toFixed(0)}** (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}) | ${((1000 * batch) / med).toFixed(1)} | ${ratio} |`);
}
