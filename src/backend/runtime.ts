/**
 * Runtimes: onnxruntime-node (cpu, cuda, webgpu, ...) and onnxruntime-web (wasm, webgpu).
 * Execution providers given as a list are tried in order; the session reports which one ran.
 * onnxruntime's errors become OnnxErrors naming the failing node; its own log lines stay quiet
 * unless `logLevel` asks for them; a session may run in its own process (`isolate`) so that a run
 * can be stopped and its memory capped.
 */
import type { DType } from '../core/dtype.js';
import { InputError, OnnxError } from '../core/errors.js';
import type { Target } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import type { Attempt, IsolatedSession, IsolateOptions, RunLimits, WireTensor } from './isolate.js';
import { nodePhrase, readOrtError } from './ort-errors.js';

export type { IsolateOptions, RunLimits } from './isolate.js';

export type RuntimeName = 'node' | 'web';

/** onnxruntime's log severities, most verbose first. */
export type LogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
const LOG_LEVELS: readonly LogLevel[] = ['verbose', 'info', 'warning', 'error', 'fatal'];

export interface RuntimeOptions extends RunLimits {
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
   * onnxruntime's own log lines (printed to stderr, in colour): 'fatal' (the default) keeps them
   * off the terminal, errors reach you as OnnxErrors anyway; 'warning' or 'verbose' shows them.
   * The environment variable DEQ_ORT_LOG_LEVEL sets the default. onnxruntime-node fixes its
   * process-wide logger (which reports, e.g., a CUDA provider that fails to load) at the first
   * session, so set it before then (setRuntimeDefaults or the variable).
   */
  logLevel?: LogLevel;
  /**
   * Run the session in a child process (onnxruntime-node only). `timeoutMs` and `signal` (here as
   * defaults for every run, or per run where the caller takes them) can then stop a run, and
   * `maxMemoryMB` caps what it may allocate. An in-process run cannot be stopped.
   */
  isolate?: boolean | IsolateOptions;
  /**
   * Record onnxruntime's profile, to learn which execution provider ran each node
   * (`session.endProfiling()`, `placementOf`). onnxruntime-web prints its profile (to the console
   * in a browser, to standard output in Node) instead of returning it. In-process sessions only.
   */
  profile?: boolean;
  /**
   * onnxruntime's memory pattern (node runtime): plans one block for all of a run's tensors from the
   * first run. Default false: with solver loops the plan held more than the tensors need (conv DEQ
   * training step: peak RSS 1,045 MB with it, 698 MB without; bench/session-memory.ts).
   */
  memoryPattern?: boolean;
  /** onnxruntime's CPU memory arena (node runtime; default true: without it the peak was higher, 822–868 MB). */
  memoryArena?: boolean;
}

/** Where onnxruntime ran one node of a session's (optimised) graph, from its profile. */
export interface NodePlacement {
  /** The node's name after graph optimisation (a fused node is named after its fusion). */
  node: string;
  /** The kernel's op type, e.g. MatMul, FusedGemm, Loop. */
  opType: string;
  /** onnxruntime's name for the provider: 'CPUExecutionProvider', 'WebGpuExecutionProvider', … */
  provider: string;
}

export interface Session {
  readonly runtime: RuntimeName;
  /** The execution provider that actually runs this session. */
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Run; `limits` (with an isolated session only) add to the session's own timeoutMs and signal. */
  run(inputs: readonly Tensor[], limits?: RunLimits): Promise<Tensor[]>;
  /**
   * Stop profiling (sessions created with `profile: true`) and return onnxruntime's profile JSON:
   * read back on onnxruntime-node; undefined on onnxruntime-web, which prints it instead.
   */
  endProfiling(): Promise<string | undefined>;
  /** onnxruntime's own run, for measuring the library's overhead (in-process sessions). */
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

/** The level asked for, else DEQ_ORT_LOG_LEVEL, else 'fatal'. */
function logLevelOf(o: RuntimeOptions): LogLevel {
  const env = (typeof process !== 'undefined' && process.env?.DEQ_ORT_LOG_LEVEL) || undefined;
  const level = o.logLevel ?? env ?? 'fatal';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InputError(`logLevel ${o.logLevel !== undefined ? '' : '(from DEQ_ORT_LOG_LEVEL) '}must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  }
  return level as LogLevel;
}

async function loadOrt(name: RuntimeName, level: LogLevel): Promise<Ort> {
  let p = ortCache.get(name);
  if (!p) {
    p = (async () => {
      if (name === 'node') {
        const specifier = 'onnxruntime-node';
        const ort = (await import(/* @vite-ignore */ specifier)) as Ort;
        // read once, when the first session initialises onnxruntime's process-wide logger
        ort.env.logLevel = level;
        return ort;
      }
      const ort = (await import('onnxruntime-web')) as unknown as Ort;
      const m = (ort as any).default ?? ort;
      if (typeof process !== 'undefined' && process.versions?.node) m.env.wasm.numThreads = 1;
      m.env.logLevel = level;
      return m as Ort;
    })();
    ortCache.set(name, p);
  }
  return p;
}

const ortTypeOf: Record<string, DType> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' };

/**
 * A host tensor as a feed, over the same memory. onnxruntime-node's native run reads a feed's
 * type, dims, location and data and checks them itself (the data's array type and length against
 * the type and dims), so it gets them as a plain record: an onnxruntime Tensor would check them
 * once more in JS on every new input. onnxruntime-web gets its own Tensor.
 */
function feedOf(ort: Ort, runtime: RuntimeName, t: Tensor): unknown {
  if (runtime === 'node') return { type: t.dtype, dims: t.shape, location: 'cpu', data: t.data };
  return new ort.Tensor(t.dtype, t.data, [...t.shape]);
}

export function fromOrt(x: any): Tensor {
  const dtype = ortTypeOf[x.type];
  if (!dtype) throw new OnnxError(`output of type ${x.type} is not supported`);
  return new Tensor(dtype, x.dims.map(Number), x.data);
}

/**
 * Create a session for a model's bytes; `what` names the model in errors. onnxruntime's failures
 * are OnnxErrors with a plain reason (the original error is the `cause`).
 */
export async function createSession(model: Uint8Array, opts: RuntimeOptions = {}, what = 'the model'): Promise<Session> {
  const o = { ...defaults, ...opts };
  const runtime = o.runtime ?? 'node';
  const level = logLevelOf(o);
  const eps = providerList(runtime, o.executionProviders);
  const attempts: Attempt[] = eps.map((provider, i) => ({ provider, options: sessionOptions(runtime, o, eps.slice(i), level) }));
  const sessionLimits: RunLimits = { timeoutMs: o.timeoutMs, signal: o.signal };
  checkLimits(sessionLimits);
  if (o.isolate && o.profile) throw new InputError('profile needs an in-process session: leave out isolate to profile');
  if (o.isolate) {
    if (runtime !== 'node') throw new InputError("isolate runs onnxruntime-node in a child process; it needs runtime: 'node'");
    const { startIsolated, IsolatedCreateError } = await import('./isolate.js');
    try {
      const iso = await startIsolated({ model, attempts, logLevel: level, verbose: level !== 'fatal', isolate: o.isolate === true ? {} : o.isolate, what });
      return isolatedSession(iso, sessionLimits, what);
    } catch (e) {
      if (e instanceof IsolatedCreateError) throw creationError(runtime, e.failures, what, e);
      throw e;
    }
  }
  if (o.timeoutMs !== undefined || o.signal) throw inProcessLimitsError();
  const ort = await loadOrt(runtime, level);
  const profile = o.profile ? await profileTarget(runtime) : undefined;
  const failures: { provider: string; message: string }[] = [];
  const causes: unknown[] = [];
  for (const a of attempts) {
    try {
      const s = await ort.InferenceSession.create(model, { ...a.options, ...profile?.options });
      return wrapSession(ort, s, runtime, a.provider, what, profile);
    } catch (e) {
      failures.push({ provider: a.provider, message: (e as Error)?.message ?? String(e) });
      causes.push(e);
    }
  }
  await profile?.discard();
  throw creationError(runtime, failures, what, causes.length === 1 ? causes[0] : causes);
}

function sessionOptions(runtime: RuntimeName, o: RuntimeOptions, eps: string[], level: LogLevel): Record<string, unknown> {
  const sessionOpts: Record<string, unknown> = {
    executionProviders: eps,
    graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
    logSeverityLevel: LOG_LEVELS.indexOf(level),
  };
  if (runtime === 'node') {
    sessionOpts.intraOpNumThreads = o.intraOpNumThreads ?? 1;
    sessionOpts.enableMemPattern = o.memoryPattern ?? false;
    sessionOpts.enableCpuMemArena = o.memoryArena ?? true;
    sessionOpts.interOpNumThreads = 1;
    sessionOpts.extra = { session: { 'intra_op.allow_spinning': o.allowSpinning ? '1' : '0', 'inter_op.allow_spinning': '0' } };
  }
  return sessionOpts;
}

function creationError(runtime: RuntimeName, failures: { provider: string; message: string }[], what: string, cause: unknown): OnnxError {
  const reasons = failures.map(({ provider, message }) => {
    const f = readOrtError(message);
    return `${provider}: ${f.node ? `${nodePhrase(f.node)}: ` : ''}${f.reason}`;
  });
  return new OnnxError(`${what}: onnxruntime-${runtime} could not create a session with any of [${failures.map((f) => f.provider).join(', ')}]: ${reasons.join('; ')}`, { cause });
}

/** A failure during a run, as an OnnxError naming the node onnxruntime names. */
function runError(e: unknown, what: string): OnnxError {
  if (e instanceof OnnxError || e instanceof InputError) return e;
  const f = readOrtError((e as Error)?.message ?? String(e));
  const where = f.node ? `${nodePhrase(f.node)} failed` : 'the run failed';
  return new OnnxError(`${what}: ${where} in onnxruntime: ${f.reason}`, { cause: e });
}

/** Limits given at load or per run: a timeout must be a non-negative number of milliseconds. */
function checkLimits(limits: RunLimits): void {
  const t = limits.timeoutMs;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) throw new InputError(`timeoutMs must be a non-negative number of milliseconds, got ${t}`);
}

function inProcessLimitsError(): InputError {
  return new InputError(
    'timeoutMs and signal need isolate: true. onnxruntime-node runs a session synchronously on the calling thread and has no way to stop a run, ' +
      'so a stoppable run happens in a child process: pass isolate: true (or { maxMemoryMB }) with them.',
  );
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
      if (!seen.has(node)) seen.set(node, { node, opType: String(args.op_name ?? '?'), provider: args.provider });
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

function wrapSession(ort: Ort, s: any, runtime: RuntimeName, provider: string, what: string, profile?: ProfileTarget): Session {
  let profiling = profile !== undefined;
  const endProfiling = async (): Promise<string | undefined> => {
    if (!profiling) return undefined;
    profiling = false;
    await s.endProfiling();
    return profile!.read();
  };
  const inputNames: string[] = s.inputNames;
  const outputNames: string[] = s.outputNames;
  // the feeds of the last run, input by input: an input that is the same host tensor as last time
  // (the parameters of a repeated call) keeps its feed
  const lastInputs: (Tensor | undefined)[] = inputNames.map(() => undefined);
  let lastFeeds: Record<string, unknown> = {};
  const failed = (e: unknown) => {
    throw runError(e, what);
  };
  const outputsOf = (out: Record<string, unknown>) => {
    const ts: Tensor[] = new Array(outputNames.length);
    for (let i = 0; i < outputNames.length; i++) ts[i] = fromOrt(out[outputNames[i]!]);
    return ts;
  };
  // onnxruntime-common's run checks the feeds' names, builds the fetches and re-wraps the results
  // on every call; the session handler it calls takes them directly (the native run checks the
  // tensors), so in-process node sessions call it with fetches built once
  const handler = runtime === 'node' && typeof s.handler?.run === 'function' ? s.handler : undefined;
  const fetches: Record<string, null> = Object.fromEntries(outputNames.map((n) => [n, null]));
  const runOptions = {};
  const runFeeds = (feeds: Record<string, unknown>): Promise<Record<string, unknown>> =>
    handler ? handler.run(feeds, fetches, runOptions) : s.run(feeds);
  return {
    runtime,
    provider,
    inputNames,
    outputNames,
    raw: s,
    run(inputs, limits) {
      if (limits && (limits.timeoutMs !== undefined || limits.signal)) return Promise.reject(inProcessLimitsError());
      if (inputs.length !== inputNames.length) return Promise.reject(new OnnxError(`${what}: the session takes ${inputNames.length} inputs, got ${inputs.length}`));
      let changed = false;
      for (let i = 0; i < inputs.length; i++) {
        const t = inputs[i]!;
        if (t === lastInputs[i]) continue;
        if (!changed) {
          // a run in flight may still read the previous feeds object: never change it
          lastFeeds = { ...lastFeeds };
          changed = true;
        }
        lastInputs[i] = t;
        lastFeeds[inputNames[i]!] = feedOf(ort, runtime, t);
      }
      return runFeeds(lastFeeds).then(outputsOf, failed);
    },
    endProfiling,
    async release() {
      // a profile left running is written when the session goes: end it here, in its folder
      if (profiling) await endProfiling().catch(() => undefined);
      await s.release();
    },
  };
}

/** A session in its own process: tensors are copied across, and runs can be stopped. */
function isolatedSession(iso: IsolatedSession, own: RunLimits, what: string): Session {
  const { inputNames, outputNames } = iso;
  return {
    runtime: 'node',
    provider: iso.provider,
    inputNames,
    outputNames,
    raw: {
      run: () => Promise.reject(new OnnxError(`${what}: raw runs are not available for a session in its own process`)),
    },
    async run(inputs, limits = {}) {
      checkLimits(limits);
      if (inputs.length !== inputNames.length) throw new OnnxError(`${what}: the session takes ${inputNames.length} inputs, got ${inputs.length}`);
      const feeds: Record<string, WireTensor> = {};
      inputs.forEach((t, i) => (feeds[inputNames[i]!] = { type: t.dtype, data: t.data, dims: t.shape }));
      const timeouts = [own.timeoutMs, limits.timeoutMs].filter((x): x is number => x !== undefined);
      const signals = [own.signal, limits.signal].filter((x): x is AbortSignal => x !== undefined);
      try {
        const out = await iso.run(feeds, {
          timeoutMs: timeouts.length ? Math.min(...timeouts) : undefined,
          signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
        });
        return outputNames.map((n) => fromOrt(out[n]));
      } catch (e) {
        throw runError(e, what);
      }
    },
    endProfiling: async () => undefined,
    release: () => iso.release(),
  };
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
  const session = await createSession(model, { ...opts, profile: true });
  try {
    const outputs = await session.run(inputs);
    const profile = await session.endProfiling();
    if (profile === undefined) throw new OnnxError('nodePlacement: onnxruntime wrote no profile');
    return { provider: session.provider, outputs, nodes: placementOf(profile) };
  } finally {
    await session.release();
  }
}
