/**
 * Export a traced function as a standalone .onnx file, and load .onnx files back as sessions.
 * Graph inputs are named by the pytree paths of the example arguments (`params.W`, `x`) and
 * outputs by the paths of the returned pytree (`loss`, `grads.W`), so the file is usable from any
 * onnxruntime without this library.
 */
import { InputError, OnnxError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import { treeFlatten, type TreeDef } from '../core/pytree.js';
import { Tensor } from '../core/tensor.js';
import { leafPaths, traceWithArgs } from '../transforms/jit.js';
import { encodeModel, lowerModel, OPSET } from './lower.js';
import { decodeModel, describeModel, type TensorInfo } from './model-info.js';
import { createSession, type RuntimeOptions, type Session } from './runtime.js';

export type { TensorInfo } from './model-info.js';

export interface ExportOptions {
  /** Names of the graph inputs, one per tensor leaf of the arguments (default: pytree paths). */
  inputNames?: string[];
  /** Names of the graph outputs, one per tensor leaf of the result (default: pytree paths). */
  outputNames?: string[];
  /** The graph's name inside the file (default: the function's name). */
  graphName?: string;
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
  const { graph: g0, outDef, nOut } = traceWithArgs(fn, args);
  // taps (solver stats) become extra outputs, as in jit
  const tapNames = g0.taps.flatMap((t) => t.atoms.map((_, i) => `tap.${t.label}.${i}`));
  const graph: Graph = { ...g0, outputs: [...g0.outputs, ...g0.taps.flatMap((t) => t.atoms)], taps: [] };
  const [leaves] = treeFlatten(args);
  const tensorLeaf = leaves.map((l) => l instanceof Tensor);
  const positional = args.flatMap((a, i) => leafPaths(a, argNames[i]!));
  const inputNames = checkNames('input', opts.inputNames, positional.filter((_, i) => tensorLeaf[i]));
  const outputNames = checkNames('output', opts.outputNames, [...treeDefPaths(outDef, 'output'), ...tapNames]);
  if (outputNames.length !== nOut + tapNames.length) throw new OnnxError('internal: output names do not match the outputs');
  const model = lowerModel(graph, { inputNames, outputNames, graphName: opts.graphName ?? (fn.name || 'deq_onnx') });
  // protobufjs hands back a Node Buffer; callers get a plain Uint8Array
  const encoded = encodeModel(model);
  const bytes = new Uint8Array(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
  const manifest: ManifestEntry = {
    file: opts.file ?? '',
    inputs: graph.inputs.map((v, i) => ({ name: inputNames[i]!, shape: [...v.aval.shape], dtype: v.aval.dtype })),
    outputs: graph.outputs.map((a, i) => ({ name: outputNames[i]!, shape: [...a.aval.shape], dtype: a.aval.dtype })),
    opset: OPSET,
  };
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

/** The file system, loaded on first use so that this module also loads in browsers (bytes only there). */
const fsp = () => import('node:fs/promises');

/**
 * Write a file so that readers see the old or the new content, never a partial one: the data goes
 * to a temporary file in the same folder, is flushed to disk, then renamed into place.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const { mkdir, open, rename, rm } = await fsp();
  const dir = path.replace(/[\\/][^\\/]*$/, '');
  if (dir && dir !== path) await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A validated .onnx model with a session, run by input name. */
export interface LoadedModel {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly opset: number;
  readonly session: Session;
  /** Run with inputs by name (or positionally); returns outputs by name. Checks names, shapes and dtypes first. */
  run(inputs: Record<string, Tensor> | readonly Tensor[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

/**
 * Load an .onnx file (path or bytes): the bytes are decoded and checked before onnxruntime sees
 * them, so a truncated or garbage file gives an OnnxError instead of a crash.
 */
export async function loadOnnx(source: string | Uint8Array, opts: RuntimeOptions = {}): Promise<LoadedModel> {
  const what = typeof source === 'string' ? source : 'model bytes';
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = new Uint8Array(await (await fsp()).readFile(source));
    } catch (e) {
      throw new OnnxError(`loadOnnx: cannot read ${source}: ${(e as Error).message}`);
    }
  } else bytes = source;
  const info = describeModel(decodeModel(bytes, what), what);
  let session: Session;
  try {
    session = await createSession(bytes, opts);
  } catch (e) {
    throw new OnnxError(`loadOnnx: onnxruntime rejected ${what}: ${(e as Error).message}`);
  }
  const byName = new Map(info.inputs.map((x) => [x.name, x]));
  return {
    inputs: info.inputs,
    outputs: info.outputs,
    opset: info.opset,
    session,
    async run(inputs) {
      const ordered = Array.isArray(inputs) ? positional(info.inputs, inputs as readonly Tensor[], what) : named(byName, info.inputs, inputs as Record<string, Tensor>, what);
      ordered.forEach((t, i) => checkInput(info.inputs[i]!, t, what));
      const order = session.inputNames.map((n) => info.inputs.findIndex((x) => x.name === n));
      const outs = await session.run(order.map((i) => ordered[i]!));
      return Object.fromEntries(session.outputNames.map((n, i) => [n, outs[i]!]));
    },
    release: () => session.release(),
  };
}

function positional(infos: readonly TensorInfo[], xs: readonly Tensor[], what: string): Tensor[] {
  if (xs.length !== infos.length) {
    throw new OnnxError(`${what} takes ${infos.length} inputs (${infos.map((x) => x.name).join(', ')}), got ${xs.length}`);
  }
  return [...xs];
}

function named(byName: Map<string, TensorInfo>, infos: readonly TensorInfo[], xs: Record<string, Tensor>, what: string): Tensor[] {
  const unknown = Object.keys(xs).filter((k) => !byName.has(k));
  const missing = infos.filter((x) => !(x.name in xs)).map((x) => x.name);
  if (unknown.length || missing.length) {
    throw new OnnxError(
      `${what}: input names do not match the model` +
        (unknown.length ? `; unknown: ${unknown.join(', ')}` : '') +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        `. The model takes: ${infos.map(fmtInfo).join(', ')}`,
    );
  }
  return infos.map((x) => xs[x.name]!);
}

function checkInput(info: TensorInfo, t: Tensor, what: string): void {
  if (!(t instanceof Tensor)) throw new OnnxError(`${what}: input ${info.name} must be a Tensor, got ${typeof t}`);
  const shapeOk = info.shape.length === t.shape.length && info.shape.every((d, i) => d === null || d === t.shape[i]);
  if (!shapeOk || info.dtype !== t.dtype) {
    throw new OnnxError(`${what}: input ${info.name} must be ${fmtType(info)}, got ${t.dtype}[${t.shape.join(', ')}]`);
  }
}

const fmtType = (x: TensorInfo) => `${x.dtype}[${x.shape.map((d) => d ?? '?').join(', ')}]`;
const fmtInfo = (x: TensorInfo) => `${x.name}: ${fmtType(x)}`;

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

/** Paths of the leaves of a tree structure: `loss`, `grads.W`; a bare leaf is named by `root`. */
export function treeDefPaths(def: TreeDef, root: string): string[] {
  const walk = (d: TreeDef, prefix: string): string[] => {
    switch (d.kind) {
      case 'leaf': return [prefix || root];
      case 'none': return [];
      case 'array': return d.children.flatMap((c, i) => walk(c, prefix ? `${prefix}.${i}` : `${root}_${i}`));
      case 'object': return d.children.flatMap((c, i) => walk(c, prefix ? `${prefix}.${d.keys[i]}` : d.keys[i]!));
    }
  };
  return walk(def, '');
}
