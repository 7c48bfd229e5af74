/** Hand-built ONNX models for tests of what a file may and may not contain. */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type Obj = Record<string, unknown>;

/** A tensor value info; a null dimension is symbolic. elemType 1 = float32, 7 = int64, 9 = bool. */
export const vi = (name: string, shape: (number | null)[] = [], elemType = 1): Obj => ({
  name,
  type: { tensorType: { elemType, shape: { dim: shape.map((d) => (d === null ? { dimParam: 'n' } : { dimValue: d })) } } },
});

/** A float32 tensor with its values in float_data. */
export const floats = (name: string, dims: number[], values: number[]): Obj => ({ name, dims, dataType: 1, floatData: values });

/** A float32 tensor whose data is declared to live in the file `location` (relative to wherever). */
export const external = (name: string, dims: number[], location: string): Obj => ({
  name,
  dims,
  dataType: 1,
  dataLocation: 1,
  externalData: [
    { key: 'location', value: location },
    { key: 'length', value: String(4 * dims.reduce((a, b) => a * b, 1)) },
  ],
});

export const int64s = (name: string, dims: number[], values: (number | bigint)[]): Obj => ({ name, dims, dataType: 7, int64Data: values.map(String) });

export const node = (opType: string, input: string[], output: string[], attribute: Obj[] = [], name = ''): Obj => ({ opType, input, output, attribute, name });

/** Attributes: type 1 FLOAT, 2 INT, 4 TENSOR, 5 GRAPH, 7 INTS, 11 SPARSE_TENSOR. */
export const attr = {
  int: (name: string, i: number): Obj => ({ name, type: 2, i }),
  ints: (name: string, ints: number[]): Obj => ({ name, type: 7, ints }),
  tensor: (name: string, t: Obj): Obj => ({ name, type: 4, t }),
  graph: (name: string, g: Obj): Obj => ({ name, type: 5, g }),
  sparse: (name: string, s: Obj): Obj => ({ name, type: 11, sparseTensor: s }),
};

export interface ModelSpec {
  nodes: Obj[];
  inputs: Obj[];
  outputs: Obj[];
  initializers?: Obj[];
  sparseInitializers?: Obj[];
  functions?: Obj[];
  opset?: number;
  ir?: number;
  extraOpsets?: Obj[];
}

/** The ModelProto object (before encoding), for tests that edit it. */
export function modelObject(s: ModelSpec): Obj {
  return {
    irVersion: s.ir ?? 8,
    opsetImport: [{ domain: '', version: s.opset ?? 18 }, ...(s.extraOpsets ?? [])],
    graph: {
      name: 'g',
      node: s.nodes,
      input: s.inputs,
      output: s.outputs,
      initializer: s.initializers ?? [],
      sparseInitializer: s.sparseInitializers ?? [],
    },
    functions: s.functions ?? [],
  };
}

export const encodeObject = (m: Obj): Uint8Array => onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish();

export const buildModel = (s: ModelSpec): Uint8Array => encodeObject(modelObject(s));

/**
 * `y = x + c` where c comes from inside a Loop body (one trip): the body adds its initializer `c`
 * (or the result of `inner`, nodes computing `c` from nothing) to the carried value.
 */
export function loopModel(bodyInitializers: Obj[], bodyNodes: Obj[] = [], trips: bigint = 1n): Uint8Array {
  const body = {
    name: 'body',
    node: [...bodyNodes, node('Add', ['v', 'c'], ['v2']), node('Identity', ['cond'], ['cond2'])],
    initializer: bodyInitializers,
    input: [vi('i', [], 7), vi('cond', [], 9), vi('v', [4])],
    output: [vi('cond2', [], 9), vi('v2', [4])],
  };
  return buildModel({
    nodes: [node('Loop', ['M', 'keep', 'x'], ['y'], [attr.graph('body', body)], 'the_loop')],
    initializers: [int64s('M', [], [trips]), { name: 'keep', dims: [], dataType: 9, int32Data: [1] }],
    inputs: [vi('x', [4])],
    outputs: [vi('y', [4])],
  });
}
