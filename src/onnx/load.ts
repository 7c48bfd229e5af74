/**
 * Load an .onnx file as an onnxruntime session, checked by the library first: a truncated or
 * garbage file gives an OnnxError instead of a crash, and inputs are checked by name, shape and dtype.
 */
import { OnnxError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { createSession, type RuntimeOptions, type Session } from '../backend/runtime.js';
import { readBytes } from '../util/fs.js';
import type { TensorInfo } from './info.js';
import { decodeModel, describeModel } from './proto.js';

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
      bytes = await readBytes(source);
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

