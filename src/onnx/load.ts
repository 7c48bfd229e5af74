/**
 * Load an .onnx file as an onnxruntime session, checked by the library first: a truncated,
 * garbage or hostile file gives an OnnxError instead of a crash (see proto.ts and model-check.ts),
 * onnxruntime runs the model exactly as it was checked, and inputs are checked by name, shape and dtype.
 */
import { OnnxError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { createSession, type RunLimits, type RuntimeOptions, type Session } from '../backend/runtime.js';
import { readBytes } from '../util/fs.js';
import type { TensorInfo } from './info.js';
import { canonicalBytes, decodeModel, describeModel, fitsInfo, fmtInfoType } from './proto.js';

/** A validated .onnx model with a session, run by input name. */
export interface LoadedModel {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly opset: number;
  readonly session: Session;
  /**
   * Run with inputs by name (or positionally); returns outputs by name. Checks names, shapes and
   * dtypes first. `limits` (timeoutMs, signal) need a model loaded with `isolate`.
   */
  run(inputs: Record<string, Tensor> | readonly Tensor[], limits?: RunLimits): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

/**
 * Load an .onnx file (path or bytes): the bytes are decoded and checked before onnxruntime sees
 * them, so a truncated or garbage file gives an OnnxError instead of a crash. Refused: external
 * data anywhere in the model, tensors whose declared size does not match their bytes (or exceeds
 * 2 GiB), IR versions outside 3..13, opsets outside 1..26, graphs not in SSA form. onnxruntime gets
 * the decoded model encoded again, so both read one model. For a model you do not trust, pass
 * `isolate` (and `timeoutMs` or a `signal`): runs then happen in a child process that can be stopped.
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
  const model = decodeModel(bytes, what);
  const info = describeModel(model, what);
  const session = await createSession(canonicalBytes(model), opts, what);
  try {
    sameNames('inputs', info.inputs, session.inputNames, what);
    sameNames('outputs', info.outputs, session.outputNames, what);
  } catch (e) {
    await session.release();
    throw e;
  }
  const byName = new Map(info.inputs.map((x) => [x.name, x]));
  // the session's input order as positions in the decoded inputs (the names are the same sets, checked above)
  const order = session.inputNames.map((n) => info.inputs.findIndex((x) => x.name === n));
  return {
    inputs: info.inputs,
    outputs: info.outputs,
    opset: info.opset,
    session,
    async run(inputs, limits) {
      const ordered = Array.isArray(inputs) ? positional(info.inputs, inputs as readonly Tensor[], what) : named(byName, info.inputs, inputs as Record<string, Tensor>, what);
      ordered.forEach((t, i) => checkInput(info.inputs[i]!, t, what));
      const outs = await session.run(order.map((i) => ordered[i]!), limits);
      const byOut = Object.fromEntries(session.outputNames.map((n, i) => [n, outs[i]!]));
      for (const o of info.outputs) {
        const t = byOut[o.name]!;
        if (!fitsInfo(o, t.dtype, t.shape)) {
          throw new OnnxError(`${what}: onnxruntime computed output ${o.name} as ${t.dtype}[${t.shape.join(', ')}] but the model declares ${fmtInfoType(o)}`);
        }
      }
      return byOut;
    },
    release: () => session.release(),
  };
}

/** onnxruntime must see the inputs and outputs the library decoded; any difference is refused. */
function sameNames(kind: string, decoded: readonly TensorInfo[], reported: readonly string[], what: string): void {
  const a = decoded.map((x) => x.name);
  const same = a.length === reported.length && a.every((n) => reported.includes(n));
  if (!same) {
    throw new OnnxError(`${what}: the model's ${kind} read as [${a.join(', ')}] here but [${reported.join(', ')}] in onnxruntime; the file is damaged`);
  }
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
  if (!fitsInfo(info, t.dtype, t.shape)) throw new OnnxError(`${what}: input ${info.name} must be ${fmtInfoType(info)}, got ${t.dtype}[${t.shape.join(', ')}]`);
}

const fmtInfo = (x: TensorInfo) => `${x.name}: ${fmtInfoType(x)}`;

