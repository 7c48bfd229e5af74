/**
 * Runtimes: onnxruntime-node (cpu, cuda, webgpu, ...) and onnxruntime-web (wasm, webgpu).
 * Execution providers given as a list are tried in order; the session reports which one ran.
 */
import type { DType } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import type { Target } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';

export type RuntimeName = 'node' | 'web';

export interface RuntimeOptions {
  /** 'node' (onnxruntime-node, default in Node) or 'web' (onnxruntime-web; wasm also works in Node). */
  runtime?: RuntimeName;
  /** Tried in order, e.g. ['cuda', 'cpu']; the first that loads runs. */
  executionProviders?: string[];
  /**
   * Intra-op threads. Default 1: the graphs here are small and many sessions live at once, and on
   * small machines several spinning thread pools made small graphs about 4x slower.
   */
  intraOpNumThreads?: number;
  /** Let idle intra-op threads spin (default false, for the same reason). */
  allowSpinning?: boolean;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * onnxruntime's memory pattern (node runtime): plans one block for all of a run's tensors from the
   * first run. Default false: with solver loops the plan held more than the tensors need (conv DEQ
   * training step: peak RSS 1,045 MB with it, 698 MB without; bench/session-memory.ts).
   */
  memoryPattern?: boolean;
  /** onnxruntime's CPU memory arena (node runtime; default true: without it the peak was higher, 822–868 MB). */
  memoryArena?: boolean;
}

export interface Session {
  readonly runtime: RuntimeName;
  /** The execution provider that actually runs this session. */
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: readonly Tensor[]): Promise<Tensor[]>;
  /** onnxruntime's own run, for measuring the library's overhead. */
  readonly raw: { run(feeds: Record<string, unknown>): Promise<Record<string, unknown>> };
  release(): Promise<void>;
}

let defaults: RuntimeOptions = { runtime: 'node', intraOpNumThreads: 1, allowSpinning: false };

/** Set the options used when a transform compiles without explicit runtime options. */
export function setRuntimeDefaults(opts: RuntimeOptions): void {
  defaults = { ...defaults, ...opts };
}

/**
 * What graphs for these options may use: onnxruntime's contrib operators only where every provider
 * tried is a CPU one (node 'cpu', web 'wasm'), the providers they were measured on; WebGPU and the
 * others get standard ONNX.
 */
export function compileTarget(opts: RuntimeOptions = {}): Target {
  const o = { ...defaults, ...opts };
  const runtime = o.runtime ?? 'node';
  return { contribOps: providerList(runtime, o.executionProviders).every((e) => e === 'cpu' || e === 'wasm') };
}

type Ort = typeof import('onnxruntime-common') & { env: any; InferenceSession: any; Tensor: any };

const ortCache = new Map<RuntimeName, Promise<Ort>>();

async function loadOrt(name: RuntimeName): Promise<Ort> {
  let p = ortCache.get(name);
  if (!p) {
    p = (async () => {
      if (name === 'node') {
        const specifier = 'onnxruntime-node';
        return (await import(/* @vite-ignore */ specifier)) as Ort;
      }
      const ort = (await import('onnxruntime-web')) as unknown as Ort;
      const m = (ort as any).default ?? ort;
      if (typeof process !== 'undefined' && process.versions?.node) m.env.wasm.numThreads = 1;
      return m as Ort;
    })();
    ortCache.set(name, p);
  }
  return p;
}

const ortTypeOf: Record<string, DType> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' };

export function toOrt(ort: Ort, t: Tensor): unknown {
  return new ort.Tensor(t.dtype, t.data, [...t.shape]);
}

/**
 * onnxruntime tensors wrap the host tensor's memory without copying, so one wrapper per host tensor
 * is kept and reused: repeated calls with the same parameters skip onnxruntime's tensor validation.
 */
const ortTensors = new WeakMap<Ort, WeakMap<Tensor, unknown>>();
function ortTensorOf(ort: Ort, t: Tensor): unknown {
  let m = ortTensors.get(ort);
  if (!m) ortTensors.set(ort, (m = new WeakMap()));
  let o = m.get(t);
  if (!o) m.set(t, (o = toOrt(ort, t)));
  return o;
}
export function fromOrt(x: any): Tensor {
  const dtype = ortTypeOf[x.type];
  if (!dtype) throw new OnnxError(`output of type ${x.type} is not supported`);
  return new Tensor(dtype, x.dims.map(Number), x.data);
}

export async function createSession(model: Uint8Array, opts: RuntimeOptions = {}): Promise<Session> {
  const o = { ...defaults, ...opts };
  const runtime = o.runtime ?? 'node';
  const ort = await loadOrt(runtime);
  const eps = providerList(runtime, o.executionProviders);
  const errors: string[] = [];
  for (let i = 0; i < eps.length; i++) {
    const tryEps = eps.slice(i);
    try {
      const sessionOpts: Record<string, unknown> = {
        executionProviders: tryEps,
        graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
      };
      if (runtime === 'node') {
        sessionOpts.intraOpNumThreads = o.intraOpNumThreads ?? 1;
        sessionOpts.enableMemPattern = o.memoryPattern ?? false;
        sessionOpts.enableCpuMemArena = o.memoryArena ?? true;
        sessionOpts.interOpNumThreads = 1;
        sessionOpts.extra = { session: { 'intra_op.allow_spinning': o.allowSpinning ? '1' : '0', 'inter_op.allow_spinning': '0' } };
      }
      const s = await ort.InferenceSession.create(model, sessionOpts);
      return wrapSession(ort, s, runtime, tryEps[0]!);
    } catch (e) {
      errors.push(`${tryEps[0]}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new OnnxError(`could not create an onnxruntime-${runtime} session with any of [${eps.join(', ')}]: ${errors.join('; ')}`);
}

/** The EPs to try: onnxruntime-web calls its CPU provider 'wasm', so 'cpu' is accepted there too. */
function providerList(runtime: RuntimeName, eps: string[] | undefined): string[] {
  const cpu = runtime === 'node' ? 'cpu' : 'wasm';
  if (!eps?.length) return [cpu];
  const mapped = eps.map((e) => (runtime === 'web' && e === 'cpu' ? 'wasm' : e));
  return mapped.filter((e, i) => mapped.indexOf(e) === i);
}

function wrapSession(ort: Ort, s: any, runtime: RuntimeName, provider: string): Session {
  const inputNames: string[] = s.inputNames;
  const outputNames: string[] = s.outputNames;
  let lastInputs: Tensor[] | undefined;
  let lastFeeds: Record<string, unknown> = {};
  return {
    runtime,
    provider,
    inputNames,
    outputNames,
    raw: s,
    run(inputs) {
      if (inputs.length !== inputNames.length) return Promise.reject(new OnnxError(`session takes ${inputNames.length} inputs, got ${inputs.length}`));
      // the same host tensors as last time (a repeated call) reuse the same feeds
      let same = lastInputs !== undefined;
      for (let i = 0; same && i < inputs.length; i++) same = lastInputs![i] === inputs[i];
      if (!same) {
        lastFeeds = {};
        for (let i = 0; i < inputNames.length; i++) lastFeeds[inputNames[i]!] = ortTensorOf(ort, inputs[i]!);
        lastInputs = [...inputs];
      }
      return s.run(lastFeeds).then((out: Record<string, unknown>) => outputNames.map((n) => fromOrt(out[n])));
    },
    release: () => s.release(),
  };
}
