/** One-node ONNX models written by hand, for checking the import op by op against onnxruntime. */
import onnxProto from 'onnx-proto';
import { type DType, Tensor } from '../../src/index.js';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;
const ELEM: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };

export type Attr = Record<string, unknown>;
export const int = (i: number): Attr => ({ type: A.INT, i });
export const float = (f: number): Attr => ({ type: A.FLOAT, f });
export const ints = (v: number[]): Attr => ({ type: A.INTS, ints: v });
export const floats = (v: number[]): Attr => ({ type: A.FLOATS, floats: v });
export const str = (s: string): Attr => ({ type: A.STRING, s: new TextEncoder().encode(s) });
export const tensorAttr = (t: Tensor): Attr => ({ type: A.TENSOR, t: tensorProto('value', t) });

export function tensorProto(name: string, t: Tensor): Record<string, unknown> {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.shape], dataType: ELEM[t.dtype], rawData: new Uint8Array(bytes) };
}

export interface NodeModel {
  op: string;
  opset: number;
  /** Graph inputs, in order (undefined: an empty optional input). */
  inputs: (readonly [string, Tensor] | undefined)[];
  /** Which of those are initializers instead of graph inputs. */
  initializers?: readonly string[];
  attrs?: Record<string, Attr>;
  outputs: number;
  /** Output types (the import needs them; shapes are left unknown). */
  outDtypes: readonly DType[];
}

/** Input names, '' for an absent one; trailing absent inputs are left out (onnxruntime-node aborts on some trailing empty names). */
function inputNames(inputs: NodeModel['inputs']): string[] {
  const names = inputs.map((x) => x?.[0] ?? '');
  while (names.length && names[names.length - 1] === '') names.pop();
  return names;
}

/** The model's bytes; outputs are named y0, y1, … with the given types and unknown shapes. */
export function nodeModel(m: NodeModel): Uint8Array {
  const init = new Set(m.initializers ?? []);
  const vi = (name: string, t: Tensor) => ({ name, type: { tensorType: { elemType: ELEM[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } } });
  const present = m.inputs.filter((x): x is readonly [string, Tensor] => x !== undefined);
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: m.opset }],
    graph: {
      name: 'g',
      node: [{
        opType: m.op,
        name: 'node',
        input: inputNames(m.inputs),
        output: Array.from({ length: m.outputs }, (_, i) => `y${i}`),
        attribute: Object.entries(m.attrs ?? {}).map(([name, a]) => ({ name, ...a })),
      }],
      input: present.filter(([n]) => !init.has(n)).map(([n, t]) => vi(n, t)),
      initializer: present.filter(([n]) => init.has(n)).map(([n, t]) => tensorProto(n, t)),
      output: Array.from({ length: m.outputs }, (_, i) => ({ name: `y${i}`, type: { tensorType: { elemType: ELEM[m.outDtypes[i]!] } } })),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attr>;
  name?: string;
}

/** A model of several nodes; graph inputs may have symbolic (null) dimensions. */
export function graphModel(g: {
  opset: number;
  nodes: GraphNode[];
  inputs: [string, DType, (number | null)[]][];
  initializers?: [string, Tensor][];
  outputs: [string, DType][];
}): Uint8Array {
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: g.opset }],
    graph: {
      name: 'g',
      node: g.nodes.map((n, i) => ({
        opType: n.op,
        name: n.name ?? `n${i}`,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([name, a]) => ({ name, ...a })),
      })),
      input: g.inputs.map(([name, dt, shape]) => ({
        name,
        type: { tensorType: { elemType: ELEM[dt], shape: { dim: shape.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d })) } } },
      })),
      initializer: (g.initializers ?? []).map(([n, t]) => tensorProto(n, t)),
      output: g.outputs.map(([name, dt]) => ({ name, type: { tensorType: { elemType: ELEM[dt] } } })),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}
