/**
 * Cross-runtime parity of a cell: `checkParity` runs one job (a cell, its inputs, solve settings)
 * on each runtime and compares every result with a float64 reference — a float32 cell's weights,
 * constants and inputs converted to float64 and run on onnxruntime-node's CPU provider — giving a
 * table of runtime × (f, VJP, z*, iterations, dL/dx, dL/dθ, placement) as data.
 *
 * Runtimes are runners: in-process ones here (onnxruntime-node, onnxruntime-web); the `deq check`
 * command adds runners for a child process (the WebGPU provider of onnxruntime-node, which picks
 * its Vulkan driver at start-up) and for headless Chromium.
 */
import type { DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { Tensor, scalar } from '../core/tensor.js';
import { shortProvider, type RuntimeOptions } from '../backend/runtime.js';
import { jit } from '../transforms/jit.js';
import * as np from '../np.js';
import { importOnnx, type ImportedModel } from './import.js';
import { castTensor, cellSignature, orderedInputs, runParityJob, type CellRun, type GraphPlacement, type ParityInputs, type ParityJob, type ParitySolve, type RunHooks } from './parity-job.js';
import { widenToFloat64 } from './widen.js';

export type { CellRun, GraphPlacement, ParityInputs, ParityJob, ParitySolve } from './parity-job.js';

/** A runtime a check can run on. */
export interface ParityRunner {
  /** Short name, e.g. node-cpu, chromium-webgpu. */
  readonly name: string;
  /** In words, e.g. "onnxruntime-web 1.30, wasm, in headless Chromium". */
  readonly description: string;
  /** Run the job; `{ absent }` says why this runtime is not present here (not an error). */
  run(job: ParityJob): Promise<CellRun | { absent: string }>;
}

/** The runtimes checkParity knows by name and runs in this process. */
export type BuiltInRuntime = 'node-cpu' | 'node-webgpu' | 'web-wasm' | 'web-webgpu';

export interface ParityOptions {
  /** Runtimes to compare (default: node-cpu and web-wasm in Node; web-wasm and web-webgpu in a browser). */
  runtimes?: readonly (ParityRunner | BuiltInRuntime)[];
  /** Where the float64 reference runs (default: node-cpu in Node, web-wasm in a browser). */
  reference?: ParityRunner | BuiltInRuntime;
  /** Largest allowed relative difference from the reference (defaults: float32 1e-4, float64 1e-9). */
  tolerance?: { float32?: number; float64?: number };
  /** Solve settings of the runtimes' solves (defaults by dtype: PARITY_SOLVE). */
  solve?: Partial<ParitySolve>;
  /** Called as each runtime starts and ends (for progress output). */
  onRuntime?: (name: string, stage: 'start' | 'end') => void;
}

export const PARITY_TOLERANCE = { float32: 1e-4, float64: 1e-9 } as const;

/** Solve settings of the checked runtimes, by dtype: tight enough that the solve error sits well inside the tolerance. */
export const PARITY_SOLVE: Readonly<Record<'float32' | 'float64', ParitySolve>> = {
  float32: { solver: 'anderson', tol: 1e-5, maxIter: 100, backwardTol: 1e-5, backwardMaxIter: 100 },
  float64: { solver: 'anderson', tol: 1e-11, maxIter: 200, backwardTol: 1e-11, backwardMaxIter: 200 },
};
/** The reference solves to float64 precision, so that its own solve error does not count against anyone. */
const REFERENCE_TOL = 1e-12;

/** The compared quantities, in table order. */
export const PARITY_COLUMNS = ['f', 'vjp', 'zStar', 'dx', 'dtheta'] as const;
export type ParityColumn = (typeof PARITY_COLUMNS)[number];
export const PARITY_COLUMN_LABELS: Readonly<Record<ParityColumn, string>> = { f: 'f', vjp: 'vjp', zStar: 'z*', dx: 'dL/dx', dtheta: 'dL/dθ' };

/** Where the nodes ran, summed over the compiled graphs. */
export interface PlacementSummary {
  /** 'profile': read from onnxruntime's profile; 'only provider': the session had one provider, so every node ran there. */
  source: 'profile' | 'only provider' | 'not recorded';
  /** Nodes per provider, by short name: cpu, webgpu, js (JSEP), … (copies between devices, MemcpyToHost/FromHost, not counted). */
  nodes: Record<string, number>;
  /** The op types each provider ran, sorted. */
  ops: Record<string, string[]>;
  /** Copies between devices that onnxruntime inserted. */
  copies: number;
  /** The nodes that ran on another provider than the one the session asked for (fell back), by graph. */
  fallback: GraphPlacement[];
}

export interface ParityRow {
  runtime: string;
  description: string;
  /** ok: within tolerance and converged; fail: a difference over the tolerance or a solve that did not converge; error: it threw; absent: not present here. */
  status: 'ok' | 'fail' | 'error' | 'absent';
  /** Why: for absent and error rows, and which checks failed for fail rows. */
  reason?: string;
  provider?: string;
  /** What the runtime ran on, when it says (a WebGPU adapter, a Vulkan driver). */
  device?: string;
  /** Max relative difference from the reference per column; null where there is nothing to compare (no x inputs, no weights). */
  diff?: Record<ParityColumn, number | null>;
  /** The tensor with the largest difference in each column (an input or initializer name). */
  worst?: Record<ParityColumn, string | null>;
  iterations?: { forward: number; backward: number };
  converged?: boolean;
  placement?: PlacementSummary;
  seconds?: number;
}

export interface ParityReport {
  cell: {
    dtype: DType;
    inputs: { name: string; shape: number[] }[];
    output: string;
    /** The weights, by initializer name. */
    params: string[];
  };
  reference: {
    runtime: string;
    description: string;
    dtype: 'float64';
    /** True when the cell is float32 and its weights, constants and inputs were converted to float64 for the reference. */
    widened: boolean;
    iterations: { forward: number; backward: number };
    seconds: number;
  };
  tolerance: number;
  solve: ParitySolve;
  rows: ParityRow[];
  /** Every runtime that ran is within tolerance and converged, and at least one ran. */
  ok: boolean;
}

const inNode = () => typeof process !== 'undefined' && Boolean(process.versions?.node) && typeof window === 'undefined';

const BUILT_IN: Record<BuiltInRuntime, { options: RuntimeOptions; description: string; node: boolean }> = {
  'node-cpu': { options: { runtime: 'node', executionProviders: ['cpu'] }, description: 'onnxruntime-node, cpu', node: true },
  'node-webgpu': { options: { runtime: 'node', executionProviders: ['webgpu'] }, description: 'onnxruntime-node, webgpu', node: true },
  'web-wasm': { options: { runtime: 'web', executionProviders: ['wasm'] }, description: 'onnxruntime-web, wasm', node: false },
  'web-webgpu': { options: { runtime: 'web', executionProviders: ['webgpu'] }, description: 'onnxruntime-web, webgpu', node: false },
};

/** Providers that are the CPU: a session with only one of them runs every node there. */
const CPU_PROVIDERS = new Set(['cpu', 'wasm']);

/**
 * A runner in this process. onnxruntime-node's sessions are profiled (placement read back);
 * onnxruntime-web prints its profile instead: with `profile: true` and `hooks.printedProfile` (a
 * page that records console.log) its placement is read too, else it is only known for a CPU-only
 * session.
 */
export function inProcessRunner(name: string, runtime: RuntimeOptions, description = name, hooks: RunHooks = {}): ParityRunner {
  const web = (runtime.runtime ?? 'node') === 'web';
  return {
    name,
    description,
    async run(job) {
      if (!web && !inNode()) return { absent: 'onnxruntime-node runs only in Node' };
      const eps = runtime.executionProviders ?? [];
      if (eps.some((e) => !CPU_PROVIDERS.has(e))) {
        const why = await probe(runtime);
        if (why) return { absent: why };
      }
      return runParityJob(job, { ...runtime, profile: runtime.profile ?? !web }, hooks);
    },
  };
}

/** Why sessions cannot be created with these options here, or undefined when they can. */
async function probe(runtime: RuntimeOptions): Promise<string | undefined> {
  const f = jit((a: Tensor) => np.add(a, a), runtime);
  try {
    await f.compile(scalar(1));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await f.release();
  }
}

function runnerOf(r: ParityRunner | BuiltInRuntime): ParityRunner {
  if (typeof r !== 'string') return r;
  const b = BUILT_IN[r];
  if (!b) throw new InputError(`checkParity: no runtime named ${r}; the built-in ones are ${Object.keys(BUILT_IN).join(', ')}, or pass a ParityRunner`);
  return inProcessRunner(r, b.options, b.description);
}

/** Random inputs for a cell: N(0, 1) for every input and the cotangent; symbolic dimensions get size `batch`. */
export function randomParityInputs(cell: Uint8Array | ImportedModel, opts: { seed?: number; batch?: number } = {}): ParityInputs {
  const m = cell instanceof Uint8Array ? importOnnx(cell, 'the cell') : cell;
  const { state } = cellSignature(m);
  const rng = new Rng(opts.seed ?? 0);
  const batch = opts.batch ?? 2;
  const values: Record<string, Tensor> = {};
  for (const info of m.inputs) values[info.name] = rng.randn(info.shape.map((d) => d ?? batch), info.dtype);
  return { values, cotangent: rng.randn([...values[state.name]!.shape], state.dtype) };
}

/** max_i |a_i − r_i| / max_i |r_i| (the reference's scale; 1 when it is all zeros); Infinity for a shape mismatch or NaN. */
export function relativeDifference(a: Tensor, ref: Tensor): number {
  if (a.shape.length !== ref.shape.length || a.shape.some((d, i) => d !== ref.shape[i])) return Infinity;
  const x = a.data;
  const r = ref.data;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(Number(x[i]) - Number(r[i]));
    if (Number.isNaN(d)) return Infinity;
    if (d > diff) diff = d;
    const s = Math.abs(Number(r[i]));
    if (s > scale) scale = s;
  }
  return diff / (scale || 1);
}

/** The largest difference over named tensors, and the name it occurs at; null without tensors. */
function worstOf(got: Record<string, Tensor>, ref: Record<string, Tensor>): { diff: number | null; at: string | null } {
  let diff: number | null = null;
  let at: string | null = null;
  for (const [k, r] of Object.entries(ref)) {
    const g = got[k];
    const d = g ? relativeDifference(g, r) : Infinity;
    if (diff === null || d > diff || Number.isNaN(d)) { diff = d; at = k; }
  }
  return { diff, at };
}

/** Each column's largest relative difference of one run from another, and the tensor where it occurs (null where there is nothing to compare). */
export function compareRuns(run: CellRun, ref: CellRun): { diff: Record<ParityColumn, number | null>; worst: Record<ParityColumn, string | null> } {
  const cols: Record<ParityColumn, { diff: number | null; at: string | null }> = {
    f: worstOf({ f: run.f }, { f: ref.f }),
    vjp: worstOf({ ...prefixed('', run.vjp.inputs), ...prefixed('θ ', run.vjp.params) }, { ...prefixed('', ref.vjp.inputs), ...prefixed('θ ', ref.vjp.params) }),
    zStar: worstOf({ 'z*': run.zStar }, { 'z*': ref.zStar }),
    dx: worstOf(run.implicit.inputs, ref.implicit.inputs),
    dtheta: worstOf(run.implicit.params, ref.implicit.params),
  };
  const diff = Object.fromEntries(PARITY_COLUMNS.map((c) => [c, cols[c].diff])) as Record<ParityColumn, number | null>;
  const worst = Object.fromEntries(PARITY_COLUMNS.map((c) => [c, cols[c].at])) as Record<ParityColumn, string | null>;
  return { diff, worst };
}

const prefixed = (p: string, m: Record<string, Tensor>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [`${p}${k}`, v]));

const COPY_OPS = new Set(['MemcpyToHost', 'MemcpyFromHost']);
/** How a requested provider is named in onnxruntime's profile: web's wasm is the CPU provider, JSEP's WebGPU is "js". */
const PROFILE_NAMES: Record<string, readonly string[]> = { wasm: ['cpu'], webgpu: ['webgpu', 'js'] };

/** Nodes per provider and the op types each ran, from a run's placement. */
export function summarisePlacement(run: Pick<CellRun, 'placement' | 'provider'>): PlacementSummary {
  if (!run.placement) {
    return CPU_PROVIDERS.has(run.provider)
      ? { source: 'only provider', nodes: {}, ops: { [run.provider]: [] }, copies: 0, fallback: [] }
      : { source: 'not recorded', nodes: {}, ops: {}, copies: 0, fallback: [] };
  }
  const nodes: Record<string, number> = {};
  const ops: Record<string, Set<string>> = {};
  const fallback: GraphPlacement[] = [];
  let copies = 0;
  for (const p of run.placement) {
    if (COPY_OPS.has(p.opType)) { copies++; continue; }
    const provider = shortProvider(p.provider);
    nodes[provider] = (nodes[provider] ?? 0) + 1;
    (ops[provider] ??= new Set()).add(p.opType);
    if (!(PROFILE_NAMES[run.provider] ?? [run.provider]).includes(provider)) fallback.push(p);
  }
  return {
    source: 'profile',
    nodes,
    ops: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, [...v].sort()])),
    copies,
    fallback,
  };
}

const fmt = (x: number) => x.toExponential(1);

/** Compare the runtimes' runs of a cell with a float64 reference; the table as data. */
export async function checkParity(cell: Uint8Array, inputs: ParityInputs, opts: ParityOptions = {}): Promise<ParityReport> {
  if (!(cell instanceof Uint8Array)) throw new InputError('checkParity takes the cell as .onnx bytes (a Uint8Array): they are what each runtime loads');
  const m = importOnnx(cell, 'the cell');
  const { state, output } = cellSignature(m);
  orderedInputs(m, inputs);
  const dtype = state.dtype as 'float32' | 'float64';
  const tolerance = opts.tolerance?.[dtype] ?? PARITY_TOLERANCE[dtype];
  if (!(tolerance > 0)) throw new InputError(`checkParity: the ${dtype} tolerance must be above 0, got ${tolerance}`);
  const solve: ParitySolve = { ...PARITY_SOLVE[dtype], ...opts.solve };
  const job: ParityJob = { model: cell, inputs, solve };
  const runners = (opts.runtimes ?? (inNode() ? ['node-cpu', 'web-wasm'] : ['web-wasm', 'web-webgpu'])).map(runnerOf);
  const referenceRunner = runnerOf(opts.reference ?? (inNode() ? 'node-cpu' : 'web-wasm'));

  // the reference: float64 throughout, solved to float64 precision
  const widened = dtype === 'float32';
  const refJob: ParityJob = {
    model: widened ? widenToFloat64(cell, 'the cell') : cell,
    inputs: {
      values: Object.fromEntries(Object.entries(inputs.values).map(([k, v]) => [k, castTensor(v, 'float64')])),
      cotangent: castTensor(inputs.cotangent, 'float64'),
    },
    solve: { ...solve, tol: REFERENCE_TOL, backwardTol: REFERENCE_TOL, maxIter: Math.max(solve.maxIter, 500), backwardMaxIter: Math.max(solve.backwardMaxIter, 500) },
  };
  opts.onRuntime?.(`reference (${referenceRunner.name}, float64)`, 'start');
  const ref = await referenceRunner.run(refJob);
  opts.onRuntime?.(`reference (${referenceRunner.name}, float64)`, 'end');
  if ('absent' in ref) throw new InputError(`checkParity: the reference runtime ${referenceRunner.name} is not present: ${ref.absent}`);
  if (!ref.converged) {
    throw new InputError(
      `checkParity: the float64 reference solve did not converge to ${REFERENCE_TOL} in ${refJob.solve.maxIter} iterations ` +
        `(forward ${ref.iterations.forward}, backward ${ref.iterations.backward}): is the cell a contraction at these inputs?`,
    );
  }

  const rows: ParityRow[] = [];
  for (const r of runners) {
    opts.onRuntime?.(r.name, 'start');
    rows.push(await runRow(r, job, ref, tolerance));
    opts.onRuntime?.(r.name, 'end');
  }
  const ran = rows.filter((r) => r.status !== 'absent');
  return {
    cell: { dtype, inputs: m.inputs.map((i) => ({ name: i.name, shape: [...inputs.values[i.name]!.shape] })), output: output.name, params: Object.keys(m.params) },
    reference: { runtime: referenceRunner.name, description: referenceRunner.description, dtype: 'float64', widened, iterations: ref.iterations, seconds: ref.seconds },
    tolerance,
    solve,
    rows,
    ok: ran.length > 0 && ran.every((r) => r.status === 'ok'),
  };
}

async function runRow(r: ParityRunner, job: ParityJob, ref: CellRun, tolerance: number): Promise<ParityRow> {
  const base = { runtime: r.name, description: r.description };
  let run: CellRun | { absent: string };
  try {
    run = await r.run(job);
  } catch (e) {
    return { ...base, status: 'error', reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
  if ('absent' in run) return { ...base, status: 'absent', reason: run.absent };
  const { diff, worst } = compareRuns(run, ref);
  const over = PARITY_COLUMNS.filter((c) => diff[c] !== null && !(diff[c]! <= tolerance));
  const problems = over.map((c) => `${PARITY_COLUMN_LABELS[c]} ${fmt(diff[c]!)} > ${tolerance.toExponential()}${worst[c] && c !== 'f' && c !== 'zStar' ? ` (${worst[c]})` : ''}`);
  if (!run.converged) problems.push(`the solve did not converge (forward ${run.iterations.forward}, backward ${run.iterations.backward} iterations)`);
  return {
    ...base,
    status: problems.length ? 'fail' : 'ok',
    ...(problems.length ? { reason: problems.join('; ') } : {}),
    provider: run.provider,
    ...(run.device ? { device: run.device } : {}),
    diff,
    worst,
    iterations: run.iterations,
    converged: run.converged,
    placement: summarisePlacement(run),
    seconds: run.seconds,
  };
}
