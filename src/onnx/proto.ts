/**
 * Reading ONNX ModelProto bytes safely: decoding with onnx-proto, structural checks that catch
 * truncated, foreign or hostile files before onnxruntime sees them (model-check.ts), re-encoding
 * what was checked, and TensorProto → host Tensor.
 */
import onnxProto from 'onnx-proto';
import { type DType, dtypeFromOnnx } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import { Tensor, sizeOf } from '../core/tensor.js';
import { checkModel } from './model-check.js';
import { checkTensor } from './tensor-check.js';
import type { TensorInfo } from './info.js';
import { toNumber } from './walk.js';

const { onnx } = onnxProto;

export type ModelProto = InstanceType<typeof onnx.ModelProto>;
export type GraphProto = InstanceType<typeof onnx.GraphProto>;
export type NodeProto = InstanceType<typeof onnx.NodeProto>;
/** A TensorProto as decoded (classes) or as a plain object. */
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

export type { TensorInfo };

/**
 * Decode and check a model (versions, external data, declared sizes, graph structure; see
 * model-check.ts); `what` names the source in errors.
 */
export function decodeModel(bytes: Uint8Array, what: string): ModelProto {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new OnnxError(`${what}: empty, not an ONNX model`);
  let m: ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxError(`${what}: not a valid ONNX model (truncated, or not protobuf: ${(e as Error).message}). Re-export or re-download the file.`);
  }
  const g = m.graph;
  if (!g || toNumber(m.irVersion) <= 0) {
    throw new OnnxError(`${what}: decodes as protobuf but has no ONNX graph or IR version; the file is truncated or not an ONNX model.`);
  }
  if (!m.opsetImport?.length) throw new OnnxError(`${what}: no opset import; the file is truncated or not an ONNX model.`);
  if (!g.output?.length) throw new OnnxError(`${what}: the graph has no outputs (truncated file?)`);
  for (const n of g.node ?? []) {
    if (!n.opType) throw new OnnxError(`${what}: a node without an op type: the file is damaged`);
  }
  checkModel(m, what);
  return m;
}

/**
 * The bytes of a decoded model, encoded again. onnxruntime gets these, not the file's own bytes:
 * two protobuf parsers can read one damaged file differently (a field of the wrong wire type, a
 * repeated message field), so the model that runs must be the one that was checked. Fields this
 * decoder does not know (newer than ONNX IR 8) are dropped.
 */
export function canonicalBytes(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** The default-domain opset version a model imports. */
export function defaultOpset(m: ModelProto): number {
  const d = m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return d ? toNumber(d.version) : 0;
}

export function valueInfoOf(v: { name?: string | null; type?: any }, what: string): TensorInfo {
  const tt = v.type?.tensorType;
  const dtype = tt ? dtypeFromOnnx(tt.elemType ?? 0) : undefined;
  if (!dtype) throw new OnnxError(`${what}: value ${v.name} has an unsupported type (only float32, float64, int64, int32, bool tensors)`);
  const dims = tt.shape?.dim ?? [];
  return {
    name: v.name ?? '',
    dtype,
    shape: dims.map((d: any) => (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam ? toNumber(d.dimValue) : null)),
    ...(tt.shape ? {} : { anyRank: true }),
  };
}

/** Whether a value of shape `shape` fits `info` (its dtype, rank and static dims). */
export function fitsInfo(info: TensorInfo, dtype: DType, shape: readonly number[]): boolean {
  if (dtype !== info.dtype) return false;
  if (info.anyRank) return true;
  return info.shape.length === shape.length && info.shape.every((d, i) => d === null || d === shape[i]);
}

/** `float32[2, ?]`, or `float32[any shape]`. */
export const fmtInfoType = (x: TensorInfo): string => `${x.dtype}[${x.anyRank ? 'any shape' : x.shape.map((d) => d ?? '?').join(', ')}]`;

/** Inputs (without initializers), outputs and opset of a decoded model. */
export function describeModel(m: ModelProto, what: string): { inputs: TensorInfo[]; outputs: TensorInfo[]; opset: number } {
  const g = m.graph!;
  const init = new Set((g.initializer ?? []).map((t) => t.name));
  return {
    inputs: (g.input ?? []).filter((v) => !init.has(v.name)).map((v) => valueInfoOf(v, what)),
    outputs: (g.output ?? []).map((v) => valueInfoOf(v, what)),
    opset: defaultOpset(m),
  };
}

/** TensorProto → host Tensor (raw little-endian data or the typed repeated fields). */
export function tensorFromProto(t: TensorProto, what: string): Tensor {
  const dtype = dtypeFromOnnx(t.dataType ?? 0);
  if (!dtype) throw new OnnxError(`${what}: tensor ${t.name} has ONNX data type ${t.dataType}, which is not supported (float32, float64, int64, int32, bool)`);
  // external data, sizes and the bytes present are checked before anything is allocated
  checkTensor({ tensor: t, where: 'in the model' }, what);
  const shape = (t.dims ?? []).map(toNumber);
  const size = sizeOf(shape);
  const out = new Tensor(dtype, shape);
  const raw = t.rawData;
  if (raw && raw.length) {
    new Uint8Array(out.data.buffer).set(raw);
    return out;
  }
  const field: unknown[] =
    (dtype === 'float32' ? t.floatData : dtype === 'float64' ? t.doubleData : dtype === 'int64' ? t.int64Data : t.int32Data) ?? [];
  for (let i = 0; i < size; i++) {
    if (dtype === 'int64') (out.data as BigInt64Array)[i] = BigInt(String(field[i])); // exact, beyond 2^53 too
    else (out.data as Float64Array)[i] = toNumber(field[i]);
  }
  return out;
}
