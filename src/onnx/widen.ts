/**
 * A float32 model as float64: every float tensor (initializers, constants, graph inputs, outputs
 * and value infos, in subgraphs too) and every cast to float becomes double. The same function in
 * float64 is the reference a float32 model's runs on other runtimes are compared with.
 */
import onnxProto from 'onnx-proto';
import { OnnxError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { canonicalBytes, decodeModel, tensorFromProto, type GraphProto, type NodeProto, type TensorProto } from './proto.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const DOUBLE = onnx.TensorProto.DataType.DOUBLE;
const A = onnx.AttributeProto.AttributeType;
/** Attributes that name an element type: Cast's `to`, EyeLike's and the random ops' `dtype`. */
const TYPE_ATTRIBUTES = new Set(['to', 'dtype']);

/** The model with float32 replaced by float64 throughout; a model without float32 comes back as it is. */
export function widenToFloat64(bytes: Uint8Array, what = 'model bytes'): Uint8Array {
  const model = decodeModel(bytes, what);
  widenGraph(model.graph as GraphProto, what);
  return canonicalBytes(model);
}

function widenGraph(g: GraphProto, what: string): void {
  g.initializer = (g.initializer ?? []).map((t) => widenTensor(t as TensorProto, what)) as typeof g.initializer;
  if (g.sparseInitializer?.length) throw new OnnxError(`${what}: sparse initializers cannot be widened to float64; store them dense`);
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) {
    const tt = v.type?.tensorType;
    if (tt && tt.elemType === FLOAT) tt.elemType = DOUBLE;
  }
  for (const node of g.node ?? []) widenNode(node as NodeProto, what);
}

function widenNode(node: NodeProto, what: string): void {
  const attrs = node.attribute ?? [];
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.t) a.t = widenTensor(a.t as TensorProto, what) as typeof a.t;
    if (a.tensors?.length) a.tensors = a.tensors.map((t) => widenTensor(t as TensorProto, what)) as typeof a.tensors;
    if (a.g) widenGraph(a.g as GraphProto, what);
    for (const sub of a.graphs ?? []) widenGraph(sub as GraphProto, what);
    if (TYPE_ATTRIBUTES.has(a.name ?? '') && a.type === A.INT && Number(a.i) === FLOAT) a.i = DOUBLE;
    // Constant's value_float(s) make float32 tensors: they become a double `value`
    if (node.opType === 'Constant' && (a.name === 'value_float' || a.name === 'value_floats')) {
      const values = a.name === 'value_float' ? [a.f ?? 0] : [...(a.floats ?? [])];
      const dims = a.name === 'value_float' ? [] : [values.length];
      attrs[i] = onnx.AttributeProto.create({ name: 'value', type: A.TENSOR, t: doubleTensor(new Tensor('float64', dims, Float64Array.from(values)), '') });
    }
  }
}

function widenTensor(t: TensorProto, what: string): TensorProto {
  if (t.dataType !== FLOAT) return t;
  const host = tensorFromProto(t, what);
  return doubleTensor(new Tensor('float64', host.shape, Float64Array.from(host.data as Float32Array)), t.name ?? '', t);
}

function doubleTensor(t: Tensor, name: string, like?: TensorProto): TensorProto {
  const data = t.data as Float64Array;
  return onnx.TensorProto.create({
    name,
    dims: [...t.shape],
    dataType: DOUBLE,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    ...(like?.docString ? { docString: like.docString } : {}),
  });
}
