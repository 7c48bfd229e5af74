/**
 * The shape of a model's inputs and outputs, apart from the decoder: public declarations that name
 * it do not pull in onnx-proto's own (whose `Long` does not type-check in a strict consumer).
 */
import type { DType } from '../core/dtype.js';

/** A graph input or output: a null dimension is symbolic (any size). */
export interface TensorInfo {
  name: string;
  shape: (number | null)[];
  dtype: DType;
  /** True when the model declares no shape at all: any rank (`shape` is then empty). */
  anyRank?: boolean;
}
