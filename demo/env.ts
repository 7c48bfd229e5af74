/**
 * What this browser offers: onnxruntime-web's build (from the import map), its wasm threads, and a
 * WebGPU adapter. Threads are fixed when onnxruntime-web starts, so they come from the URL.
 */
import * as ort from 'onnxruntime-web';

export type Provider = 'webgpu' | 'wasm';

export interface PageEnv {
  /** onnxruntime-web's build: 'webgpu' (WebGPU and wasm providers) or 'wasm' (wasm only). */
  build: 'webgpu' | 'wasm';
  threads: number;
  maxThreads: number;
  crossOriginIsolated: boolean;
  /** The WebGPU adapter, or why there is none. */
  adapter: { description: string; fallback: boolean } | { absent: string };
  /** The provider to start with: WebGPU when there is an adapter and the build has it. */
  provider: Provider;
}

async function findAdapter(): Promise<PageEnv['adapter']> {
  // undefined where the browser has no WebGPU, whatever the DOM types say
  const gpu = navigator.gpu as GPU | undefined;
  if (!gpu) return { absent: 'this browser has no WebGPU (navigator.gpu is undefined)' };
  try {
    const a = await gpu.requestAdapter();
    if (!a) return { absent: 'WebGPU is there but offers no adapter' };
    // isFallbackAdapter moved from the adapter to its info in the spec; browsers have either
    const i = a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const description = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return { description, fallback: Boolean(i.isFallbackAdapter ?? (a as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter) };
  } catch (e) {
    return { absent: `WebGPU adapter request failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

export async function pageEnv(): Promise<PageEnv> {
  const q = new URLSearchParams(location.search);
  const build = q.get('ort') === 'wasm' ? 'wasm' : 'webgpu';
  const maxThreads = self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  const asked = Number(q.get('threads') ?? 1);
  const threads = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, maxThreads) : 1;
  // before the first session: onnxruntime-web reads it when its wasm starts
  ort.env.wasm.numThreads = threads;
  const adapter = build === 'webgpu' ? await findAdapter() : { absent: 'this page loaded the wasm-only build of onnxruntime-web (?ort=wasm)' };
  const wanted = q.get('ep');
  const provider: Provider = wanted === 'wasm' || 'absent' in adapter ? 'wasm' : 'webgpu';
  return { build, threads, maxThreads, crossOriginIsolated: self.crossOriginIsolated, adapter, provider };
}

/** The execution providers to ask for: WebGPU falls back to wasm, and the session says which one ran. */
export const executionProviders = (p: Provider): string[] => (p === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm']);

export const ortVersion = (): string => ort.env.versions?.web ?? '?';
