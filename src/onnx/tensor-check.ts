/**
 * Checks of the tensors a file declares, before anything is allocated for them: no external data
 * (onnxruntime would read it from the process's current directory), sizes computed without
 * overflow, capped, and matched against the bytes the file actually holds.
 */
import { OnnxError } from '../core/errors.js';
import type { TensorLike, TensorSite } from './walk.js';

/**
 * The most bytes one tensor may declare: 2 GiB. A protobuf file cannot exceed 2 GiB and external
 * data is refused, so a larger dense tensor cannot be in the file; the cap also bounds what a sparse
 * tensor's dense shape asks onnxruntime to allocate.
 */
export const MAX_TENSOR_BYTES = 2 ** 31;

/** Bytes per element of each ONNX data type, in eighths (4-bit types take 4). STRING has no size. */
const BITS: Record<number, number> = {
  1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 14: 64, 15: 128, 16: 16,
  17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4,
};
const STRING = 8;

/** The typed field that holds a tensor's values when it has no raw_data, and how many per element. */
function typedField(t: TensorLike): { name: string; length: number; perElement: number } {
  const len = (x: readonly unknown[] | null | undefined) => x?.length ?? 0;
  switch (t.dataType) {
    case 1: return { name: 'float_data', length: len(t.floatData), perElement: 1 };
    case 14: return { name: 'float_data', length: len(t.floatData), perElement: 2 };
    case 11: return { name: 'double_data', length: len(t.doubleData), perElement: 1 };
    case 15: return { name: 'double_data', length: len(t.doubleData), perElement: 2 };
    case 7: return { name: 'int64_data', length: len(t.int64Data), perElement: 1 };
    case 12: case 13: return { name: 'uint64_data', length: len(t.uint64Data), perElement: 1 };
    case STRING: return { name: 'string_data', length: len(t.stringData), perElement: 1 };
    case 21: case 22: case 23: return { name: 'int32_data', length: len(t.int32Data), perElement: 0.5 };
    default: return { name: 'int32_data', length: len(t.int32Data), perElement: 1 };
  }
}

/** A dimension as an exact integer, or undefined when it is not a non-negative integer. */
function dimOf(d: unknown): bigint | undefined {
  let v: bigint;
  if (typeof d === 'number') {
    if (!Number.isSafeInteger(d)) return undefined;
    v = BigInt(d);
  } else if (d !== null && typeof d === 'object' && 'low' in d && 'high' in d) {
    v = BigInt(String(d)); // a protobufjs Long prints its exact value
  } else return undefined;
  return v >= 0n ? v : undefined;
}

/** The element count of a shape, exactly; an OnnxError for a negative or non-integer dimension. */
function elementCount(dims: readonly unknown[], label: string): bigint {
  let n = 1n;
  for (const d of dims) {
    const v = dimOf(d);
    if (v === undefined) throw new OnnxError(`${label} has dimension ${String(d)} in its shape; dimensions must be non-negative integers`);
    n *= v;
  }
  return n;
}

const fmtBytes = (b: bigint) => (b >= 1n << 30n ? `${Number(b >> 20n) / 1024} GiB` : `${b} bytes`);

/** Throw unless the tensor keeps its data inside the file, in the amount its shape declares. */
export function checkTensor({ tensor: t, where, sparse }: TensorSite, what: string): void {
  const label = `${what}: tensor '${t.name ?? ''}' (${sparse ? `the ${sparse.part} of ` : ''}${where})`;
  if (t.dataLocation === 1 || t.externalData?.length) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    throw new OnnxError(
      `${label} keeps its data in an external file${location ? ` '${location}'` : ''}. Models with external data are refused: ` +
        'onnxruntime would read that file relative to the current directory. Save the model with its data inside the .onnx file.',
    );
  }
  const bits = BITS[t.dataType ?? 0];
  if (bits === undefined && t.dataType !== STRING) throw new OnnxError(`${label} has unknown ONNX data type ${t.dataType}`);
  const count = elementCount(t.dims ?? [], label);
  const cap = BigInt(MAX_TENSOR_BYTES);
  if (bits !== undefined) {
    const bytes = (count * BigInt(bits) + 7n) / 8n;
    if (bytes > cap) throw new OnnxError(`${label} declares shape [${(t.dims ?? []).join(', ')}], ${fmtBytes(bytes)}: more than the ${fmtBytes(cap)} a tensor may declare`);
    if (sparse) {
      const dense = (elementCount(sparse.dims, `${label}: the dense shape`) * BigInt(bits) + 7n) / 8n;
      if (dense > cap) throw new OnnxError(`${label} belongs to a sparse tensor of dense shape [${sparse.dims.join(', ')}], ${fmtBytes(dense)}: more than the ${fmtBytes(cap)} a tensor may declare`);
    }
  }
  const raw = t.rawData?.length ?? 0;
  if (raw > 0) {
    if (bits === undefined) throw new OnnxError(`${label}: string tensors cannot hold raw_data`);
    const need = (count * BigInt(bits) + 7n) / 8n;
    if (BigInt(raw) !== need) throw new OnnxError(`${label} holds ${raw} bytes of raw data, its shape [${(t.dims ?? []).join(', ')}] needs ${need}`);
    return;
  }
  const field = typedField(t);
  const need = field.perElement === 1 ? count : field.perElement === 2 ? 2n * count : (count + 1n) / 2n;
  if (BigInt(field.length) !== need) {
    throw new OnnxError(`${label} holds ${field.length} values in ${field.name}, its shape [${(t.dims ?? []).join(', ')}] needs ${need}`);
  }
}
