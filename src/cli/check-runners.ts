/**
 * Runners of `deq check` that leave this process: onnxruntime-node's WebGPU provider in a child
 * process (its Vulkan driver is chosen by environment variables at start-up; SwiftShader, shipped
 * with Debian's chromium, serves when no GPU driver is installed), and onnxruntime-web in headless
 * Chromium on wasm and on WebGPU (one browser shared by both). A runtime that cannot run here
 * answers `{ absent: why }`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RuntimeOptions } from '../backend/runtime.js';
import type { CellRun, ParityJob } from '../onnx/parity-job.js';
import type { ParityRunner } from '../onnx/parity.js';
import { decodeRun, encodeJob, type WireJob, type WireRun, type WireTensor } from '../onnx/parity-wire.js';
import type { ChildReply, ChildRequest } from './check-child.js';
import { atRoot, fromSources, packageRoot } from './check-package.js';

/** Chromium's software Vulkan driver (Debian's chromium package). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const SYSTEM_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
/** Where Chromium is looked for when --chromium is not given. */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'];

const CHILD_TIMEOUT_MS = 600_000;

/** Run a job in a child process with this environment; the child's own stderr tail explains a crash. */
export function runInChild(job: ParityJob, runtime: RuntimeOptions, env: NodeJS.ProcessEnv, timeoutMs = CHILD_TIMEOUT_MS): Promise<CellRun | { absent: string }> {
  const entry = fromSources ? ['--import', 'tsx', atRoot('src', 'cli', 'check-child.ts')] : [atRoot('dist', 'check-child.js')];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, entry, { cwd: packageRoot, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let answered = false;
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child process ran past ${timeoutMs / 1000} s and was stopped`));
    }, timeoutMs);
    child.on('message', (m: ChildReply) => {
      answered = true;
      clearTimeout(timer);
      if ('error' in m) reject(new Error(m.error));
      else if ('absent' in m) resolve({ absent: m.absent });
      else resolve(decodeRun(m.run));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`the child process ended (${signal ?? `exit ${code}`}) without an answer: ${lastLines(stderr)}`));
    });
    const request: ChildRequest = { job: encodeJob(job), runtime };
    child.send(request);
  });
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ') || 'no output';

/** Whether a Vulkan driver other than SwiftShader is installed (an ICD manifest in the usual folders). */
function systemVulkanDriver(): boolean {
  return SYSTEM_ICD_DIRS.some((d) => {
    try {
      return readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

/**
 * onnxruntime-node's WebGPU provider in a child process. On Linux without VK_ICD_FILENAMES, a
 * system Vulkan driver is tried first, then Chromium's SwiftShader when its driver is there.
 */
export function nodeWebgpuRunner(): ParityRunner {
  const runtime: RuntimeOptions = { runtime: 'node', executionProviders: ['webgpu'] };
  return {
    name: 'node-webgpu',
    description: 'onnxruntime-node, webgpu (child process)',
    async run(job) {
      const given = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
      const swiftshader = { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
      const tries: { env: NodeJS.ProcessEnv; device: string }[] = [];
      if (given || process.platform !== 'linux') tries.push({ env: process.env, device: given ? `Vulkan driver ${given}` : 'the system GPU driver' });
      else {
        if (systemVulkanDriver()) tries.push({ env: process.env, device: 'the system Vulkan driver' });
        if (existsSync(SWIFTSHADER_ICD)) tries.push({ env: swiftshader, device: 'SwiftShader (software Vulkan, from chromium)' });
      }
      if (!tries.length) return { absent: `no Vulkan driver: none in ${SYSTEM_ICD_DIRS.join(', ')}, and no ${SWIFTSHADER_ICD} (apt-get install chromium for SwiftShader)` };
      const reasons: string[] = [];
      for (const t of tries) {
        const r = await runInChild(job, runtime, t.env);
        if (!('absent' in r)) return { ...r, device: t.device };
        reasons.push(`${t.device}: ${r.absent}`);
      }
      return { absent: `no WebGPU adapter for onnxruntime-node (${reasons.join('; ')})` };
    },
  };
}

export interface AdapterInfo { vendor: string; architecture: string; device: string; description: string; fallback: boolean }

/** Chromium's launch flags: headless on a fresh profile, no network chatter, WebGPU on. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];

export type Page = import('playwright-core').Page;
export type DeqCheckWindow = {
  deqCheck: {
    run(j: WireJob, e: string[]): Promise<WireRun>;
    adapter(): Promise<AdapterInfo | { error: string }>;
    trainStep(j: WireJob, e: string[], lr: number): Promise<{ loss: WireTensor; params: Record<string, WireTensor>; provider: string }>;
  };
};

/** The browser, launched on first use: a page per onnxruntime-web build. */
interface Browser {
  /** The check page with onnxruntime-web's build for these providers, opened on first use. */
  page(build: 'all' | 'webgpu'): Promise<Page>;
  close(): Promise<void>;
}

/**
 * onnxruntime-web in headless Chromium, on wasm and on WebGPU: one browser for both, launched on
 * first use, closed by `close()`. Each runs in web/check.html (served by web/serve.mjs with the
 * browser bundle, rebuilt first when running from the sources): wasm with ort.all (float64 kernels
 * on the CPU), WebGPU with ort.webgpu (the C++ WebGPU provider; ort.all's JSEP kernels failed on a
 * broadcasting Mul of the solve graph here).
 */
export interface ChromiumRunners {
  wasm: ParityRunner;
  webgpu: ParityRunner;
  /** The check page with this onnxruntime-web build (for other work in the same browser), or why there is none. */
  page(build: 'all' | 'webgpu'): Promise<Page | { absent: string }>;
  close(): Promise<void>;
}

export function chromiumRunners(opts: { executable?: string } = {}): ChromiumRunners {
  let started: Promise<Browser | { absent: string }> | undefined;
  const browser = () => (started ??= launch(opts.executable));
  const runOn = (eps: string[], build: 'all' | 'webgpu') => async (job: ParityJob): Promise<CellRun | { absent: string }> => {
    const b = await browser();
    if ('absent' in b) return b;
    const page = await b.page(build);
    let device: string | undefined;
    if (eps.includes('webgpu')) {
      const a = await page.evaluate(() => (window as unknown as DeqCheckWindow).deqCheck.adapter());
      if ('error' in a) return { absent: a.error };
      device = `adapter ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ')}${a.fallback ? ' (a fallback adapter)' : ''}`;
    }
    const result = await page.evaluate(([j, e]) => (window as unknown as DeqCheckWindow).deqCheck.run(j, e), [encodeJob(job), eps] as const);
    return { ...decodeRun(result), ...(device ? { device } : {}) };
  };
  return {
    async page(build) {
      const b = await browser();
      return 'absent' in b ? b : b.page(build);
    },
    wasm: { name: 'chromium-wasm', description: 'onnxruntime-web, wasm, in headless Chromium', run: runOn(['wasm'], 'all') },
    webgpu: { name: 'chromium-webgpu', description: 'onnxruntime-web, webgpu, in headless Chromium', run: runOn(['webgpu'], 'webgpu') },
    async close() {
      const b = await started?.catch(() => undefined);
      if (b && !('absent' in b)) await b.close();
    },
  };
}

export function findChromium(given?: string): string | undefined {
  if (given) return existsSync(given) ? given : undefined;
  return CHROMIUM_PATHS.find((p) => existsSync(p));
}

async function launch(executable?: string): Promise<Browser | { absent: string }> {
  const exe = findChromium(executable);
  if (!exe) return { absent: executable ? `chromium not found at ${executable}` : `chromium not installed (looked for ${CHROMIUM_PATHS.join(', ')}; --chromium PATH)` };
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    return { absent: 'playwright-core not installed (npm install --save-dev playwright-core)' };
  }
  const page = atRoot('web', 'check.html');
  const server = atRoot('web', 'serve.mjs');
  if (!existsSync(page) || !existsSync(server)) return { absent: `the check page is missing (${page})` };
  if (fromSources) {
    const build = spawnSync(process.execPath, [atRoot('scripts', 'build.mjs'), 'browser'], { cwd: packageRoot, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`building the browser bundle failed: ${lastLines(build.stderr)}`);
  } else if (!existsSync(atRoot('dist', 'browser', 'deq-onnx.js'))) {
    return { absent: 'the browser bundle dist/browser/deq-onnx.js is missing (npm run build)' };
  }
  const { startServer } = (await import(pathToFileURL(server).href)) as { startServer(port?: number): Promise<{ url: string; close(): Promise<void> }> };
  const srv = await startServer(0);
  const profile = mkdtempSync(join(tmpdir(), 'deq-check-chromium-'));
  let context: import('playwright-core').BrowserContext | undefined;
  const close = async () => {
    await context?.close().catch(() => undefined);
    await srv.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    context = await playwright.chromium.launchPersistentContext(profile, { executablePath: exe, headless: true, args: CHROMIUM_ARGS });
  } catch (e) {
    await close();
    throw e;
  }
  const ctx = context;
  const pages = new Map<string, Promise<Page>>();
  const open = async (build: 'all' | 'webgpu'): Promise<Page> => {
    const p = await ctx.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(`${srv.url}/web/check.html${build === 'webgpu' ? '?ort=webgpu' : ''}`);
    await p.waitForFunction(() => 'deqCheck' in window, undefined, { timeout: 120_000 }).catch(() => {
      throw new Error(`the check page did not start${errors.length ? `: ${errors.join('; ')}` : ''}`);
    });
    return p;
  };
  return {
    page(build) {
      let p = pages.get(build);
      if (!p) pages.set(build, (p = open(build)));
      return p;
    },
    close,
  };
}
