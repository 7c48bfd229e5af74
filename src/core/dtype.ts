export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

export type TypedArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : Uint8Array;

/** Tensor data: a typed array over its own (non-shared) memory. */
export type AnyTypedArray = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer> | BigInt64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float64';

export function allocate(dtype: DType, size: number): AnyTypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int64': return new BigInt64Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
  }
}

/** ONNX TensorProto.DataType codes. */
export const onnxDType: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };
export const dtypeFromOnnx = (code: number): DType | undefined =>
  (Object.keys(onnxDType) as DType[]).find((k) => onnxDType[k] === code);
