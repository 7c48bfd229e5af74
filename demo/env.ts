/**
 * What this browser offers: onnxruntime-web's build (index.html chose it from ?ep), its wasm
 * threads (?threads; fixed when onnxruntime-web starts) and a WebGPU adapter. The page's provider
 * is its build's: WebGPU with the WebGPU build, wasm with the wasm build.
 */
import * as ort from 'onnxruntime-web';

export type Provider = 'webgpu' | 'wasm';

export interface PageEnv {
  /** onnxruntime-web's build, and so the provider the page trains on. */
  provider: Provider;
  threads: number;
  maxThreads: number;
  crossOriginIsolated: boolean;
  /** The WebGPU adapter, or why there is none (looked for with either build, to offer the switch). */
  adapter: { description: string; fallback: boolean } | { absent: string };
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
    return { absent: `the WebGPU adapter request failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** This page with other settings: the provider (and so the build) and threads are fixed at load. */
export function pageUrl(provider: Provider, threads: number): string {
  const url = new URL(location.href);
  url.searchParams.set('ep', provider);
  url.searchParams.set('threads', String(threads));
  return url.href;
}

/** The page's environment; null when it is reloading with the wasm build (WebGPU offered no adapter). */
export async function pageEnv(): Promise<PageEnv | null> {
  const q = new URLSearchParams(location.search);
  const provider = (window as unknown as { deqBuild: Provider }).deqBuild;
  const maxThreads = self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  const asked = Number(q.get('threads') ?? 1);
  const threads = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, maxThreads) : 1;
  // before the first session: onnxruntime-web reads it when its wasm starts
  ort.env.wasm.numThreads = threads;
  const adapter = await findAdapter();
  if (provider === 'webgpu' && 'absent' in adapter && !q.has('ep')) {
    // chosen for navigator.gpu, but there is no adapter: the wasm build serves better
    location.replace(pageUrl('wasm', threads));
    return null;
  }
  return { provider, threads, maxThreads, crossOriginIsolated: self.crossOriginIsolated, adapter };
}

/** The execution providers to ask for: WebGPU falls back to wasm, and the session says which one ran. */
export const executionProviders = (p: Provider): string[] => (p === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm']);

export const ortVersion = (): string => ort.env.versions?.web ?? '?';
