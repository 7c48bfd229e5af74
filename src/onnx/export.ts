/**
 * Export a traced function as a standalone .onnx file.
 * Graph inputs are named by the pytree paths of the example arguments (`params.W`, `x`) and
 * outputs by the paths of the returned pytree (`loss`, `grads.W`), so the file is usable from any
 * onnxruntime without this library.
 */
import { InputError, OnnxError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import { treeFlatten, treePaths } from '../core/pytree.js';
import { Tensor } from '../core/tensor.js';
import { encodeModel, type LowerOptions, lowerModel, OPSET } from '../backend/lower.js';
import { batchPolymorphic, type ModelObject, PROBE_SETS, ProbeCollision } from './polymorphic.js';
import { decodeModel, describeModel } from './proto.js';
import { stage } from '../transforms/stage.js';
import { writeAtomic } from '../util/fs.js';
import type { TensorInfo } from './info.js';

export interface ExportOptions {
  /** Names of the graph inputs, one per tensor leaf of the arguments (default: pytree paths). */
  inputNames?: string[];
  /** Names of the graph outputs, one per tensor leaf of the result (default: pytree paths). */
  outputNames?: string[];
  /** The graph's name inside the file (default: the function's name). */
  graphName?: string;
  /**
   * Positional arguments (by name, or `arg0`, `arg1`, … for an array) whose axis 0 is the batch:
   * in the file that axis is the symbolic dimension `batch`, so the graph runs at any batch size.
   * Default: every argument that is a bare tensor (not a pytree of weights) whose axis 0 has the
   * length of the first such argument's. `[]` exports fixed shapes.
   *
   * A symbolic batch costs tracing and lowering the function four more times, at probe batch sizes
   * (large primes), to find what changes with the batch. A function whose graph depends on the
   * batch size (one that branches on it) needs `batchArgs: []`: its graphs at the probe sizes say
   * nothing of its graph at another batch size.
   */
  batchArgs?: string[];
}

/** One entry of an onnx-models manifest. */
export interface ManifestEntry {
  file: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  opset: number;
}

export interface Exported {
  bytes: Uint8Array;
  manifest: ManifestEntry;
  graph: Graph;
}

/**
 * Example arguments: an array of positional arguments (inputs named `arg0.W`, `arg1`), or an
 * object whose keys, in the order written, name the positional arguments: `{ params, x }` calls
 * `fn(params, x)` and names the inputs `params.W`, `x`.
 */
export type ExampleArgs = unknown[] | Record<string, unknown>;

function positionalArgs(example: ExampleArgs): { args: unknown[]; argNames: string[] } {
  if (Array.isArray(example)) return { args: example, argNames: example.map((_, i) => `arg${i}`) };
  if (example && typeof example === 'object' && !(example instanceof Tensor)) {
    return { args: Object.values(example), argNames: Object.keys(example) };
  }
  throw new InputError('exportOnnx: example arguments must be an array [params, x] or an object { params, x } naming the positional arguments');
}

/**
 * Trace `fn(...exampleArgs)` and lower it to an ONNX model in memory. Numbers in the arguments
 * are static (baked into the graph); tensors become graph inputs.
 */
export function toOnnx(fn: (...args: any[]) => unknown, exampleArgs: ExampleArgs, opts: ExportOptions & { file?: string } = {}): Exported {
  const { args, argNames } = positionalArgs(exampleArgs);
  const { graph, outDef, nOut, taps, dynamic } = stage(fn, args, 'exportOnnx');
  // taps (solver stats) are extra outputs, as in jit
  const tapNames = taps.flatMap((t) => t.names.map((n) => `tap.${t.label}.${n}`));
  const positional = args.flatMap((a, i) => treePaths(treeFlatten(a)[1], argNames[i]!));
  const inputNames = checkNames('input', opts.inputNames, dynamic.map((j) => positional[j]!));
  // a returned object names its outputs by its keys; a bare value is `output`, an array `output.0`, …
  const outPaths = treePaths(outDef, outDef.kind === 'object' ? '' : 'output');
  const outputNames = checkNames('output', opts.outputNames, [...outPaths, ...tapNames]);
  if (outputNames.length !== nOut + tapNames.length) throw new OnnxError('internal: output names do not match the outputs');
  const lowerOpts = { inputNames, outputNames, graphName: opts.graphName ?? (fn.name || 'deq_onnx') };
  const batched = batchArgIndices(args, argNames, opts.batchArgs);
  const model = batched.length
    ? lowerAtProbeBatches(fn, args, batched, lowerOpts, inputNames[dynamic.indexOf(leafIndex(args, batched[0]!))]!)
    : lowerModel(graph, lowerOpts);
  // protobufjs hands back a Node Buffer; callers get a plain Uint8Array
  const encoded = encodeModel(model);
  const bytes = new Uint8Array(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
  const info = describeModel(decodeModel(bytes, 'exported model'), 'exported model');
  const manifest: ManifestEntry = { file: opts.file ?? '', inputs: info.inputs, outputs: info.outputs, opset: OPSET };
  return { bytes, manifest, graph };
}

/**
 * Trace `fn` on example arguments (pytrees), write the model to `path` atomically (a temporary
 * file renamed into place, so a reader never sees half a file) and return its bytes and manifest entry.
 */
export async function exportOnnx(
  fn: (...args: any[]) => unknown,
  exampleArgs: ExampleArgs,
  path: string,
  opts: ExportOptions = {},
): Promise<Exported> {
  const out = toOnnx(fn, exampleArgs, { ...opts, file: path.split(/[\\/]/).pop() ?? path });
  await writeAtomic(path, out.bytes);
  return out;
}

/**
 * A model with a symbolic batch: `fn` traced and lowered at each probe batch size, and what changes
 * with the batch kept as run-time arithmetic on `batchInput`'s batch axis.
 */
function lowerAtProbeBatches(
  fn: (...args: any[]) => unknown,
  args: unknown[],
  batched: readonly number[],
  lowerOpts: LowerOptions,
  batchInput: string,
): ModelObject {
  for (const [k, B] of PROBE_SETS.entries()) {
    const models = B.map((b) => {
      const resized = args.map((a, i) => (batched.includes(i) ? resizeBatch(a as Tensor, b) : a));
      return lowerModel(stage(fn, resized, 'exportOnnx').graph, lowerOpts);
    });
    try {
      return batchPolymorphic(B, models, batchInput);
    } catch (e) {
      if (!(e instanceof ProbeCollision) || k === PROBE_SETS.length - 1) throw e;
    }
  }
  throw new OnnxError('internal: no probe batch sizes to lower at');
}

/** Indices of the positional arguments that carry a batch axis (see ExportOptions.batchArgs). */
function batchArgIndices(args: unknown[], argNames: string[], given: string[] | undefined): number[] {
  if (given) {
    return given.map((n) => {
      const i = argNames.indexOf(n);
      if (i < 0) throw new InputError(`exportOnnx: batchArgs names ${n}, but the arguments are ${argNames.join(', ')}`);
      const a = args[i];
      if (!(a instanceof Tensor) || a.rank === 0) throw new InputError(`exportOnnx: batch argument ${n} must be a tensor with a batch axis 0`);
      return i;
    });
  }
  const bare = args.flatMap((a, i) => (a instanceof Tensor && a.rank > 0 ? [i] : []));
  if (!bare.length) return [];
  const n = (args[bare[0]!] as Tensor).shape[0];
  return bare.filter((i) => (args[i] as Tensor).shape[0] === n);
}

/** The flat leaf index of positional argument i (a bare tensor is one leaf). */
const leafIndex = (args: unknown[], i: number): number => args.slice(0, i).reduce<number>((k, a) => k + treeFlatten(a)[0].length, 0);

/** A tensor like `t` with `b` rows (values do not matter: only shapes are traced). */
const resizeBatch = (t: Tensor, b: number): Tensor => new Tensor(t.dtype, [b, ...t.shape.slice(1)]);

function checkNames(kind: string, given: string[] | undefined, defaults: string[]): string[] {
  if (!given) return dedupe(defaults);
  if (given.length !== defaults.length) {
    throw new InputError(`exportOnnx: ${given.length} ${kind} names given but the graph has ${defaults.length} ${kind}s (${defaults.join(', ')})`);
  }
  if (new Set(given).size !== given.length) throw new InputError(`exportOnnx: ${kind} names must be unique, got ${given.join(', ')}`);
  return given;
}

/** ONNX names must be unique; an input may appear twice if a user passes the same name twice. */
function dedupe(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k ? `${n}_${k}` : n;
  });
}
