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
  /**
   * Record onnxruntime's profile, to learn which execution provider ran each node
   * (`session.endProfiling()`, `placementOf`). onnxruntime-web prints its profile (to the console
   * in a browser, to standard output in Node) instead of returning it.
   */
  profile?: boolean;
}

/** Where onnxruntime ran one node of a session's (optimised) graph, from its profile. */
export interface NodePlacement {
  /** The node's name after graph optimisation (fused nodes get new names). */
  node: string;
  /** The kernel's op type, e.g. MatMul, FusedGemm, Loop. */
  op: string;
  /** The execution provider, short: cpu, webgpu, js (onnxruntime-web's JSEP WebGPU), cuda, ... */
  provider: string;
}

export interface Session {
  readonly runtime: RuntimeName;
  /** The execution provider that actually runs this session. */
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: readonly Tensor[]): Promise<Tensor[]>;
  /**
   * Stop profiling (sessions created with `profile: true`) and return onnxruntime's profile JSON:
   * read back on onnxruntime-node; undefined on onnxruntime-web, which prints it instead.
   */
  endProfiling(): Promise<string | undefined>;
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
      const profile = o.profile ? await profileTarget(runtime) : undefined;
      if (profile) Object.assign(sessionOpts, profile.options);
      if (runtime === 'node') {
        sessionOpts.intraOpNumThreads = o.intraOpNumThreads ?? 1;
        sessionOpts.interOpNumThreads = 1;
        sessionOpts.extra = { session: { 'intra_op.allow_spinning': o.allowSpinning ? '1' : '0', 'inter_op.allow_spinning': '0' } };
      }
      let s: any;
      try {
        s = await ort.InferenceSession.create(model, sessionOpts);
      } catch (e) {
        await profile?.discard();
        throw e;
      }
      return wrapSession(ort, s, runtime, tryEps[0]!, profile);
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

/** Where a profiled session's profile goes: a fresh temporary folder on onnxruntime-node. */
interface ProfileTarget {
  options: Record<string, unknown>;
  /** The profile written so far (after onnxruntime's endProfiling), or undefined when it prints it. */
  read(): Promise<string | undefined>;
  discard(): Promise<void>;
}

async function profileTarget(runtime: RuntimeName): Promise<ProfileTarget> {
  if (runtime === 'web') return { options: { enableProfiling: true }, read: async () => undefined, discard: async () => {} };
  // node: builtins behind dynamic imports, so that the browser bundle never loads them
  const [{ mkdtemp, readdir, readFile, rm }, { tmpdir }, { join }] = await Promise.all([import('node:fs/promises'), import('node:os'), import('node:path')]);
  const dir = await mkdtemp(join(tmpdir(), 'deq-onnx-profile-'));
  return {
    options: { enableProfiling: true, profileFilePrefix: join(dir, 'profile') },
    async read() {
      const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
      const text = files.length ? await readFile(join(dir, files[0]!), 'utf8') : undefined;
      await rm(dir, { recursive: true, force: true });
      return text;
    },
    discard: () => rm(dir, { recursive: true, force: true }),
  };
}

/** onnxruntime's provider names, short: CPUExecutionProvider → cpu, WebGpuExecutionProvider → webgpu. */
export function shortProvider(name: string): string {
  const m = /^(.*)ExecutionProvider$/.exec(name);
  return m ? m[1]!.toLowerCase() : name;
}

/**
 * Which provider ran each node, from an onnxruntime profile (one JSON array, or several printed one
 * after another): the "Node" events' op_name and provider, once per node name.
 */
export function placementOf(profile: string): NodePlacement[] {
  const seen = new Map<string, NodePlacement>();
  for (const events of profileArrays(profile)) {
    for (const e of events) {
      if (!e || typeof e !== 'object' || e.cat !== 'Node' || typeof e.name !== 'string') continue;
      const args = e.args ?? {};
      if (typeof args.provider !== 'string') continue;
      const node = e.name.replace(/_(kernel_time|fence_before|fence_after)$/, '');
      if (!seen.has(node)) seen.set(node, { node, op: String(args.op_name ?? '?'), provider: shortProvider(args.provider) });
    }
  }
  return [...seen.values()];
}

/** The JSON arrays in a profile text: onnxruntime-web prints one per session, among other lines. */
function profileArrays(text: string): any[][] {
  const whole = tryParse(text.trim());
  if (Array.isArray(whole)) return [whole];
  const out: any[][] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '[') continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === ']');
    if (end < 0) break;
    const arr = tryParse(lines.slice(i, end + 1).join('\n'));
    if (Array.isArray(arr)) out.push(arr);
    i = end;
  }
  return out;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function wrapSession(ort: Ort, s: any, runtime: RuntimeName, provider: string, profile?: ProfileTarget): Session {
  let profiling = profile !== undefined;
  const endProfiling = async (): Promise<string | undefined> => {
    if (!profiling) return undefined;
    profiling = false;
    await s.endProfiling();
    return profile!.read();
  };
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
    endProfiling,
    async release() {
      // a profile left running is written when the session goes: end it here, in its folder
      if (profiling) await endProfiling().catch(() => undefined);
      await s.release();
    },
  };
}
