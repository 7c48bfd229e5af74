/** TensorProto files (ONNX's test data, `input_0.pb`) as host tensors, and numpy-style allclose. */
import onnxProto from 'onnx-proto';
import { type DType, Tensor } from '../../src/index.js';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType codes of the dtypes this library has. */
export const DTYPE_OF_ONNX: Readonly<Record<number, DType>> = { 1: 'float32', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };

const num = (v: unknown): number => (typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber());

/** A serialized TensorProto as a Tensor, or the reason it cannot be one (its dtype). */
export function decodeTensor(bytes: Uint8Array): Tensor | string {
  const t = onnx.TensorProto.decode(bytes);
  const dtype = DTYPE_OF_ONNX[t.dataType ?? 0];
  if (!dtype) return `TensorProto data type ${t.dataType}`;
  const shape = (t.dims ?? []).map(num);
  const out = new Tensor(dtype, shape);
  if (t.rawData?.length) {
    const bytesNeeded = out.data.length * out.data.BYTES_PER_ELEMENT;
    if (t.rawData.length !== bytesNeeded) throw new Error(`tensor ${t.name}: ${t.rawData.length} bytes for shape [${shape}]`);
    new Uint8Array(out.data.buffer).set(t.rawData);
    return out;
  }
  const field: unknown[] =
    dtype === 'float32' ? t.floatData : dtype === 'float64' ? t.doubleData : dtype === 'int64' ? t.int64Data : t.int32Data;
  if ((field?.length ?? 0) !== out.size) throw new Error(`tensor ${t.name}: ${field?.length ?? 0} values for shape [${shape}]`);
  for (let i = 0; i < out.size; i++) {
    if (dtype === 'int64') (out.data as BigInt64Array)[i] = BigInt(num(field[i]));
    else (out.data as Float64Array)[i] = num(field[i]);
  }
  return out;
}

/**
 * numpy.testing.assert_allclose's rule, |got − want| ≤ atol + rtol·|want| elementwise, NaN equal to
 * NaN; dtypes and shapes must agree and integers must be equal. Returns why not, or undefined.
 */
export function allClose(got: Tensor, want: Tensor, rtol: number, atol: number): string | undefined {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype}, expected ${want.dtype}`;
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
    return `shape [${got.shape}], expected [${want.shape}]`;
  }
  if (want.dtype === 'int64') {
    const a = got.data as BigInt64Array;
    const b = want.data as BigInt64Array;
    for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return `element ${i} is ${a[i]}, expected ${b[i]}`;
    return undefined;
  }
  const exact = want.dtype !== 'float32' && want.dtype !== 'float64';
  for (let i = 0; i < want.size; i++) {
    const a = Number(got.data[i]);
    const b = Number(want.data[i]);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue; // equal infinities included
    if (exact || !(Math.abs(a - b) <= atol + rtol * Math.abs(b))) return `element ${i} is ${a}, expected ${b}`;
  }
  return undefined;
}
