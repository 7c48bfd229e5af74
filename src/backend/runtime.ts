/**
 * Runtimes: onnxruntime-node (cpu, cuda, webgpu, ...) and onnxruntime-web (wasm, webgpu).
 * Execution providers given as a list are tried in order; the session reports which one ran.
 */
import type { DType } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
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

/** `sessionOptions` go to onnxruntime as they are (e.g. enableProfiling), after the ones made from `opts`. */
export async function createSession(model: Uint8Array, opts: RuntimeOptions = {}, sessionOptions: Record<string, unknown> = {}): Promise<Session> {
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
        sessionOpts.interOpNumThreads = 1;
        sessionOpts.extra = { session: { 'intra_op.allow_spinning': o.allowSpinning ? '1' : '0', 'inter_op.allow_spinning': '0' } };
      }
      const s = await ort.InferenceSession.create(model, { ...sessionOpts, ...sessionOptions });
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

/** Where one node ran, as onnxruntime's profiler recorded it. */
export interface NodePlacement {
  /** The node's name after graph optimisation (a fused node is named after its fusion). */
  node: string;
  opType: string;
  /** onnxruntime's name for the provider: 'CPUExecutionProvider', 'WebGpuExecutionProvider', … */
  provider: string;
}

/**
 * Run a model once with onnxruntime's profiler on and report the execution provider of every node
 * that ran, nodes inside Loop bodies included. A session's `provider` only names the first provider
 * that loaded: onnxruntime still gives each node to the first provider in the list with a kernel
 * for it, so this is where to see where the work went. onnxruntime-node only (onnxruntime-web
 * writes no profile file).
 */
export async function nodePlacement(model: Uint8Array, inputs: readonly Tensor[], opts: RuntimeOptions = {}): Promise<{ provider: string; outputs: Tensor[]; nodes: NodePlacement[] }> {
  if ((opts.runtime ?? defaults.runtime) === 'web') throw new OnnxError("nodePlacement: onnxruntime-web writes no profile; use runtime 'node'");
  const [{ mkdtemp, readdir, readFile, rm }, { tmpdir }, { join }] = await Promise.all([import('node:fs/promises'), import('node:os'), import('node:path')]);
  const dir = await mkdtemp(join(tmpdir(), 'deq-profile-'));
  try {
    const session = await createSession(model, opts, { enableProfiling: true, profileFilePrefix: join(dir, 'profile') });
    let outputs: Tensor[];
    try {
      outputs = await session.run(inputs);
      const raw: object = session.raw;
      if ('endProfiling' in raw && typeof raw.endProfiling === 'function') raw.endProfiling();
    } finally {
      await session.release();
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    if (files.length !== 1) throw new OnnxError(`nodePlacement: expected one profile from onnxruntime, found ${files.length}`);
    const events = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as { cat?: string; name?: string; args?: { op_name?: string; provider?: string } }[];
    const nodes = new Map<string, NodePlacement>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
      const node = e.name.slice(0, -'_kernel_time'.length);
      if (!nodes.has(node)) nodes.set(node, { node, opType: e.args.op_name ?? '', provider: e.args.provider });
    }
    return { provider: session.provider, outputs, nodes: [...nodes.values()] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
