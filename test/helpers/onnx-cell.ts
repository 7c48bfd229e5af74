/** Small .onnx cells written by hand with onnx-proto, for shapes and storage layouts exporters do not produce on request. */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type Dim = number | string;

const valueInfo = (name: string, dims: readonly Dim[], elemType = 1) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});

export interface TanhCellOptions {
  /** Graph inputs, in order (default z and x of [batch, 3]). */
  inputs?: [string, Dim[]][];
  output?: [string, Dim[]];
  /** W (3×3) stored in float_data instead of raw_data. */
  floatData?: boolean;
  docString?: string;
}

/**
 * z_next = tanh(z W + x) with W an initializer (width 3). With more inputs than z and x, the
 * others are added to x first.
 */
export function tanhCellBytes(o: TanhCellOptions = {}): Uint8Array {
  const inputs = o.inputs ?? [['z', ['batch', 3]], ['x', ['batch', 3]]];
  const output = o.output ?? ['z_next', ['batch', 3]];
  const W = [0.5, -0.2, 0.1, 0.3, 0.4, -0.3, -0.1, 0.2, 0.25];
  const wTensor = o.floatData
    ? { name: 'W', dims: [3, 3], dataType: 1, floatData: W }
    : { name: 'W', dims: [3, 3], dataType: 1, rawData: new Uint8Array(Float32Array.from(W).buffer) };
  const [z, ...rest] = inputs.map(([n]) => n);
  const sums = rest.slice(1).map((n, i) => ({ opType: 'Add', input: [i === 0 ? rest[0]! : `s${i - 1}`, n], output: [`s${i}`] }));
  const injected = rest.length > 1 ? `s${rest.length - 2}` : rest[0]!;
  const model = {
    irVersion: 8,
    producerName: 'hand',
    docString: o.docString ?? '',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tanh_cell',
      node: [
        ...sums,
        { opType: 'MatMul', input: [z!, 'W'], output: ['zw'], name: 'matmul' },
        { opType: 'Add', input: ['zw', injected], output: ['pre'] },
        { opType: 'Tanh', input: ['pre'], output: [output[0]] },
      ],
      initializer: [wTensor],
      input: inputs.map(([n, s]) => valueInfo(n, s)),
      output: [valueInfo(output[0], output[1])],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}
