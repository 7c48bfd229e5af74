/**
 * One runtime's part of a parity check: an .onnx cell f(z, x) → z_next, imported and compiled for
 * one runtime, gives its value f(z, x), the VJP of ⟨g, f(z, x)⟩ with respect to z, x and every
 * weight, the fixed point z* = f(z*, x) from z = 0 (one compiled solve loop) and the implicit
 * gradients of L = ⟨g, z*⟩ with respect to x and every weight; plus which provider ran each node.
 * Pure library code: it runs in Node, in a child process or in a browser page alike.
 */
import { isFloat, type DType } from '../core/dtype.js';
import { InputError, OnnxError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Tensor } from '../core/tensor.js';
import { placementOf, type NodePlacement, type RuntimeOptions } from '../backend/runtime.js';
import { valueAndGrad, vjp } from '../transforms/grad.js';
import { jit, type Jitted } from '../transforms/jit.js';
import * as np from '../np.js';
import { fixedPoint } from '../solvers/fixedPoint.js';
import type { SolverName } from '../solvers/types.js';
import { importOnnx, type ImportedModel } from './import.js';
import type { TensorInfo } from './info.js';

/** Inputs of a check: the cell's inputs by name, and the cotangent g. */
export interface ParityInputs {
  /** By input name: the first input is the state z (shaped like the output), the others are x. */
  readonly values: Readonly<Record<string, Tensor>>;
  /** g, shaped like z: the VJP is that of ⟨g, f(z, x)⟩, the loss L = ⟨g, z*⟩. */
  readonly cotangent: Tensor;
}

/** Settings of the fixed-point solve and its backward solve (plain data: it travels to other processes). */
export interface ParitySolve {
  solver: SolverName;
  tol: number;
  maxIter: number;
  backwardTol: number;
  backwardMaxIter: number;
}

/** Everything a runtime needs to run its part. */
export interface ParityJob {
  /** The cell's .onnx bytes. */
  readonly model: Uint8Array;
  readonly inputs: ParityInputs;
  readonly solve: ParitySolve;
}

/** A node's placement, with the compiled graph it belongs to: 'cell' (f and its VJP) or 'solve'. */
export interface GraphPlacement extends NodePlacement {
  graph: 'cell' | 'solve';
}

/** What one runtime computed. Gradients are by input name and by initializer name. */
export interface CellRun {
  /** f(z, x). */
  f: Tensor;
  /** The VJP of ⟨g, f(z, x)⟩: with respect to every input (z and x), and every weight. */
  vjp: { inputs: Record<string, Tensor>; params: Record<string, Tensor> };
  /** z* = f(z*, x), solved from z = 0. */
  zStar: Tensor;
  iterations: { forward: number; backward: number };
  /** Both the forward and the backward solve met their tolerance. */
  converged: boolean;
  /** Implicit gradients of L = ⟨g, z*⟩: with respect to every x input, and every weight. */
  implicit: { inputs: Record<string, Tensor>; params: Record<string, Tensor> };
  /** The execution provider the sessions were created with (what was asked for and loaded). */
  provider: string;
  /** Which provider ran each node, from onnxruntime's profile; null when the profile could not be read. */
  placement: GraphPlacement[] | null;
  seconds: number;
  /** What the runtime ran on, when its runner can tell (a WebGPU adapter, a Vulkan driver). */
  device?: string;
}

export interface RunHooks {
  /**
   * onnxruntime-web prints its profile instead of returning it: where it can be caught (a browser
   * page that records console.log), this returns what was printed since the last call.
   */
  printedProfile?: () => string | undefined;
}

/** The cell's state input (the first), its other inputs, and its one output, checked to fit a fixed point. */
export function cellSignature(m: Pick<ImportedModel, 'inputs' | 'outputs'>, what = 'the cell'): { state: TensorInfo; others: TensorInfo[]; output: TensorInfo } {
  const [state, ...others] = m.inputs;
  if (!state) throw new OnnxError(`${what} has no inputs; a cell is f(z, x) → z_next with the state z as its first input`);
  if (m.outputs.length !== 1) {
    throw new OnnxError(`${what} has ${m.outputs.length} outputs (${m.outputs.map((o) => o.name).join(', ')}); a cell has one, z_next`);
  }
  const output = m.outputs[0]!;
  const fits = state.dtype === output.dtype && state.shape.length === output.shape.length &&
    state.shape.every((d, i) => d === null || output.shape[i] === null || d === output.shape[i]);
  if (!fits || !isFloat(state.dtype)) {
    const show = (t: TensorInfo) => `${t.name}: ${t.dtype}[${t.shape.map((d) => d ?? '?').join(', ')}]`;
    throw new OnnxError(`${what}: the first input (${show(state)}) must be the float state z, shaped like the output (${show(output)}); reorder the inputs so that z comes first`);
  }
  for (const x of others) {
    if (!isFloat(x.dtype)) throw new OnnxError(`${what}: input ${x.name} is ${x.dtype}; a checked cell takes float inputs only`);
  }
  return { state, others, output };
}

/** The job's inputs in the cell's order, checked by name, dtype and shape. */
export function orderedInputs(m: ImportedModel, inputs: ParityInputs, what = 'the cell'): { z: Tensor; xs: Tensor[]; g: Tensor } {
  const { state, others } = cellSignature(m, what);
  const names = m.inputs.map((i) => i.name);
  const missing = names.filter((n) => !(n in inputs.values));
  const unknown = Object.keys(inputs.values).filter((n) => !names.includes(n));
  if (missing.length || unknown.length) {
    throw new InputError(`${what} takes inputs ${names.join(', ')}` + (missing.length ? `; missing: ${missing.join(', ')}` : '') + (unknown.length ? `; unknown: ${unknown.join(', ')}` : ''));
  }
  for (const info of m.inputs) {
    const t = inputs.values[info.name]!;
    const ok = t.dtype === info.dtype && t.shape.length === info.shape.length && info.shape.every((d, i) => d === null || d === t.shape[i]);
    if (!ok) throw new InputError(`${what}: input ${info.name} must be ${info.dtype}[${info.shape.map((d) => d ?? '?').join(', ')}], got ${t.dtype}[${t.shape.join(', ')}]`);
  }
  const z = inputs.values[state.name]!;
  const g = inputs.cotangent;
  if (g.dtype !== z.dtype || g.shape.length !== z.shape.length || g.shape.some((d, i) => d !== z.shape[i])) {
    throw new InputError(`the cotangent g must be shaped like ${state.name}: ${z.dtype}[${z.shape.join(', ')}], got ${g.dtype}[${g.shape.join(', ')}]`);
  }
  return { z, xs: others.map((x) => inputs.values[x.name]!), g };
}

const item = (t: Tensor | undefined) => (t ? Number(t.toArray()[0]) : NaN);

/** Run the job on one runtime (the runtime options choose onnxruntime-node or -web and the providers). */
export async function runParityJob(job: ParityJob, runtime: RuntimeOptions, hooks: RunHooks = {}): Promise<CellRun> {
  const started = performance.now();
  const m = importOnnx(job.model, 'the cell');
  const { z, xs, g } = orderedInputs(m, job.inputs);
  const names = m.inputs.map((i) => i.name);
  const cell = (zz: Value, xx: Value[], p: Record<string, Value>) => m.apply(p, zz, ...xx)[0]!;
  const { solver, tol, maxIter, backwardTol, backwardMaxIter } = job.solve;

  const cellGraph = jit((zz: Value, xx: Value[], p: Record<string, Value>, gg: Value) => {
    const [y, pullback] = vjp(cell, zz, xx, p) as [Value, (ct: Value) => [Value, Value[], Record<string, Value>]];
    const [gz, gx, gp] = pullback(gg);
    return { y, gz, gx, gp };
  }, { ...runtime, name: 'check_cell' });
  const loss = (xx: Value[], p: Record<string, Value>, gg: Value) => {
    const { value, stats } = fixedPoint(cell, np.zerosLike(gg), [xx, p], { solver, tol, maxIter, backwardTol, backwardMaxIter });
    return [np.sum(np.mul(gg, value)), { zStar: value, iterations: stats.iterations, converged: stats.converged }];
  };
  const solveGraph = jit(valueAndGrad(loss, { argnums: [0, 1], hasAux: true }), { ...runtime, name: 'check_solve' });
  try {
    const c = (await cellGraph(z, xs, m.params, g)) as { y: Tensor; gz: Tensor; gx: Tensor[]; gp: Record<string, Tensor> };
    const [[, aux], [gx, gp]] = (await solveGraph(xs, m.params, g)) as [
      [Tensor, { zStar: Tensor; iterations: Tensor; converged: Tensor }],
      [Tensor[], Record<string, Tensor>],
    ];
    const backward = solveGraph.lastTaps['fixedPoint.backward']?.[0];
    const provider = (await cellGraph.compile(z, xs, m.params, g)).session.provider;
    const placement = runtime.profile
      ? await placements([['cell', cellGraph, [z, xs, m.params, g]], ['solve', solveGraph, [xs, m.params, g]]], hooks)
      : null;
    return {
      f: c.y,
      vjp: { inputs: Object.fromEntries(names.map((n, i) => [n, i === 0 ? c.gz : c.gx[i - 1]!])), params: c.gp },
      zStar: aux.zStar,
      iterations: { forward: item(aux.iterations), backward: item(backward?.iterations) },
      converged: item(aux.converged) === 1 && item(backward?.converged) === 1,
      implicit: { inputs: Object.fromEntries(names.slice(1).map((n, i) => [n, gx[i]!])), params: gp },
      provider,
      placement,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cellGraph.release();
    await solveGraph.release();
  }
}

/** End each graph's profile and read where its nodes ran; null when a profile cannot be read. */
async function placements(graphs: [GraphPlacement['graph'], Jitted<any>, unknown[]][], hooks: RunHooks): Promise<GraphPlacement[] | null> {
  const out: GraphPlacement[] = [];
  hooks.printedProfile?.(); // drop anything printed before
  for (const [graph, jitted, args] of graphs) {
    const { session } = await jitted.compile(...args);
    const text = (await session.endProfiling()) ?? hooks.printedProfile?.();
    if (text === undefined) return null;
    const nodes = placementOf(text);
    if (!nodes.length) return null;
    out.push(...nodes.map((n) => ({ ...n, graph })));
  }
  return out;
}

/** A float tensor in another float dtype (exact from float32 to float64). */
export function castTensor(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : t.astype(dtype);
}
