/**
 * Inputs of `deq check` from a file: JSON ({ "z": …, "x": …, "g": … }, each a nested array or
 * { "shape", "data" }) or NumPy's .npz (np.savez(path, z=…, x=…, g=…)). Keys are the cell's input
 * names; `g` is the cotangent, drawn at random (from the seed) when absent. Other keys are ignored,
 * so the zoo's reference files serve as inputs too.
 */
import { extname } from 'node:path';
import { InputError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { ImportedModel } from '../onnx/import.js';
import { cellSignature, type ParityInputs } from '../onnx/parity-job.js';
import { Rng } from '../core/random.js';
import { readBytes } from '../util/fs.js';
import { readNpz } from '../util/npz.js';

export const COTANGENT_KEY = 'g';

/** Read an inputs file for this cell; values are converted to the cell's dtype. */
export async function readParityInputs(path: string, cell: ImportedModel, seed: number): Promise<{ inputs: ParityInputs; cotangentFrom: 'file' | 'seed' }> {
  const { state } = cellSignature(cell);
  if (cell.inputs.some((i) => i.name === COTANGENT_KEY)) {
    throw new InputError(`the cell has an input named ${COTANGENT_KEY}, which inputs files use for the cotangent; rename the input`);
  }
  const bytes = await readBytes(path).catch((e: Error) => {
    throw new InputError(`cannot read --inputs ${path}: ${e.message}`);
  });
  const ext = extname(path).toLowerCase();
  let arrays: Record<string, Tensor>;
  if (ext === '.npz') arrays = readNpz(bytes, path);
  else if (ext === '.json') {
    const { read, unreadable } = fromJson(new TextDecoder().decode(bytes), path);
    const needed = unreadable.filter((k) => k === COTANGENT_KEY || cell.inputs.some((i) => i.name === k));
    if (needed.length) throw new InputError(`--inputs ${path}: ${needed.join(', ')} ${needed.length > 1 ? 'are not arrays' : 'is not an array'} of numbers (a rectangular nested array, or { "shape": [...], "data": [...] })`);
    arrays = read;
  } else throw new InputError(`--inputs ${path}: give a .json or .npz file`);
  const missing = cell.inputs.map((i) => i.name).filter((n) => !(n in arrays));
  if (missing.length) throw new InputError(`--inputs ${path} lacks ${missing.join(', ')}; it holds ${Object.keys(arrays).join(', ') || 'nothing'} (keys are the cell's input names, plus ${COTANGENT_KEY} for the cotangent)`);
  const values = Object.fromEntries(cell.inputs.map((i) => [i.name, asDtype(arrays[i.name]!, i.dtype, `${path}: ${i.name}`)]));
  const z = values[state.name]!;
  if (arrays[COTANGENT_KEY]) return { inputs: { values, cotangent: asDtype(arrays[COTANGENT_KEY], state.dtype, `${path}: ${COTANGENT_KEY}`) }, cotangentFrom: 'file' };
  return { inputs: { values, cotangent: new Rng(seed).randn([...z.shape], z.dtype) }, cotangentFrom: 'seed' };
}

function asDtype(t: Tensor, dtype: Tensor['dtype'], what: string): Tensor {
  if (t.dtype === 'float32' || t.dtype === 'float64') return t.astype(dtype);
  throw new InputError(`${what} is ${t.dtype}; inputs must be float arrays`);
}

function fromJson(text: string, path: string): { read: Record<string, Tensor>; unreadable: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`--inputs ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`--inputs ${path}: expected an object of named arrays, e.g. { "z": [[…]], "x": [[…]] }`);
  const read: Record<string, Tensor> = {};
  const unreadable: string[] = [];
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const t = tensorFromJson(v);
    if (t) read[k] = t;
    else unreadable.push(k);
  }
  return { read, unreadable };
}

/** A nested array of numbers or { shape, data }; undefined for anything else (other keys are ignored). */
function tensorFromJson(v: unknown): Tensor | undefined {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const { shape, data } = v as { shape?: unknown; data?: unknown };
    if (!Array.isArray(shape) || !Array.isArray(data)) return undefined;
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) return undefined;
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (data.length !== size || !data.every((x) => typeof x === 'number')) return undefined;
    return new Tensor('float64', shape as number[], Float64Array.from(data as number[]));
  }
  if (!Array.isArray(v)) return undefined;
  const shape: number[] = [];
  for (let a: unknown = v; Array.isArray(a); a = a[0]) shape.push(a.length);
  const flat = (v as unknown[]).flat(Infinity);
  const size = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size || !flat.every((x) => typeof x === 'number')) return undefined;
  return new Tensor('float64', shape, Float64Array.from(flat as number[]));
}
