/**
 * Strict import: what the ONNX checker (or onnxruntime) rejects, importOnnx rejects too, with an
 * OnnxError naming the node and the problem — never a guess. And shape computations on known shapes
 * fold at import, so that dynamic-axes exports import; a value that cannot fold is a clear error.
 */
import { describe, expect, it } from 'vitest';
import { importOnnx, jit, OnnxError, Rng, Tensor, type Value } from '../src/index.js';
import { type Attr, float, graphModel, int, ints, nodeModel, str } from './helpers/onnx-node.js';

const f32 = (shape: number[]) => new Rng(1).randn(shape);
const i64 = (v: number[], shape = [v.length]) => new Tensor('int64', shape, BigInt64Array.from(v.map(BigInt)));

/** Import a one-node model and trace it once (axes are checked against ranks while tracing). */
async function importAndTrace(
  op: string,
  inputs: [string, Tensor][],
  attrs: Record<string, Attr> = {},
  opts: { opset?: number; outputs?: number; initializers?: string[] } = {},
): Promise<void> {
  const bytes = nodeModel({
    op, opset: opts.opset ?? 18, inputs, attrs, initializers: opts.initializers,
    outputs: opts.outputs ?? 1, outDtypes: new Array(opts.outputs ?? 1).fill('float32'),
  });
  const m = importOnnx(bytes, 'model.onnx');
  const given = inputs.filter(([n]) => !opts.initializers?.includes(n)).map(([, t]) => t);
  const floats = given.filter((t) => t.dtype === 'float32');
  await jit((...xs: Value[]) => {
    let k = 0;
    return m.fn(...given.map((t) => (t.dtype === 'float32' ? xs[k++]! : t)));
  })(...floats);
}

async function rejects(p: Promise<unknown> | (() => unknown), message: RegExp): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  const e = await run.then(() => undefined, (err: unknown) => err);
  expect(e, 'an error').toBeInstanceOf(OnnxError);
  expect((e as Error).message).toMatch(/model\.onnx: \w+ \(node\): /);
  expect((e as Error).message).toMatch(message);
}

describe('attributes are checked as the ONNX checker checks them', () => {
  it('Softmax axis 99 is out of range', () => rejects(importAndTrace('Softmax', [['x', f32([2, 3])]], { axis: int(99) }), /attribute axis = 99 is out of range for a rank-2 input \(allowed -2\.\.1\)/));
  it('Flatten axis 99 is out of range (Flatten allows r itself)', () => rejects(importAndTrace('Flatten', [['x', f32([2, 3])]], { axis: int(99) }), /axis = 99 is out of range .* \(allowed -2\.\.2\)/));
  it('Squeeze with an axis out of range', () => rejects(importAndTrace('Squeeze', [['x', f32([2, 1])], ['axes', i64([2])]]), /axes = 2 is out of range/));
  it('Squeeze of an axis whose size is not 1', () => rejects(importAndTrace('Squeeze', [['x', f32([2, 1])], ['axes', i64([0])]]), /axis 0 has size 2, not 1/));
  it('Unsqueeze with duplicate axes', () => rejects(importAndTrace('Unsqueeze', [['x', f32([2, 3])], ['axes', i64([1, -3])]]), /axes \[1,-3\] name axis 1 twice/));
  it('Transpose with a perm that is not a permutation', () => rejects(importAndTrace('Transpose', [['x', f32([2, 3])]], { perm: ints([0, 0]) }), /perm \[0,0\] is not a permutation/));
  it('an attribute the op does not have', () => rejects(() => importAndTrace('Relu', [['x', f32([2])]], { alpha: float(0.1) }), /attribute alpha, which the import of Relu does not understand \(it reads none\)/));
  it('an attribute of another opset', () => rejects(() => importAndTrace('Clip', [['x', f32([2])]], { min: float(0) }, { opset: 13 }), /attribute min, which Clip has in opsets 6–10, not at this model's opset 13/));
  it('an attribute of the wrong type', () => rejects(() => importAndTrace('Softmax', [['x', f32([2])]], { axis: float(1) }), /attribute axis must be INT, got FLOAT/));
  it('a required attribute left out', () => rejects(() => importAndTrace('Concat', [['a', f32([2])], ['b', f32([2])]]), /needs attribute axis/));
  it('a value outside the allowed set', () => rejects(() => importAndTrace('Gemm', [['a', f32([2, 2])], ['b', f32([2, 2])]], { transA: int(2) }), /attribute transA = 2 is not one of 0, 1/));
  it('an unknown auto_pad', () => rejects(() => importAndTrace('Conv', [['x', f32([1, 1, 3, 3])], ['w', f32([1, 1, 2, 2])]], { auto_pad: str('SAME') }), /auto_pad = "SAME" is not one of/));
  it('a value below its minimum', () => rejects(() => importAndTrace('Conv', [['x', f32([1, 1, 3, 3])], ['w', f32([1, 1, 2, 2])]], { strides: ints([1, 0]) }), /attribute strides = \[1,0\] is out of range \(each value ≥ 1\)/));
  it('pads together with auto_pad', () => rejects(importAndTrace('Conv', [['x', f32([1, 1, 3, 3])], ['w', f32([1, 1, 2, 2])]], { auto_pad: str('SAME_UPPER'), pads: ints([1, 1, 1, 1]) }), /gives both pads \[1,1,1,1\] and auto_pad = SAME_UPPER/));
  it('a kernel_shape that differs from the weight', () => rejects(importAndTrace('Conv', [['x', f32([1, 1, 3, 3])], ['w', f32([1, 1, 2, 2])]], { kernel_shape: ints([3, 3]) }), /kernel_shape \[3,3\] differs from the weight's spatial shape \[2,2\]/));
});

describe('inputs and outputs are checked', () => {
  it('too many inputs', () => rejects(() => importAndTrace('Relu', [['x', f32([2])], ['y', f32([2])]]), /has 2 inputs; at opset 18 Relu takes at most 1 \(X\)/));
  it('an input of a type the op does not take', () => rejects(() => importAndTrace('Softmax', [['x', i64([1, 2])]]), /input 0 \(input\) is int64; Softmax takes a float32 or float64 tensor there/));
  it('an output the op does not have', () => rejects(() => importAndTrace('Relu', [['x', f32([2])]], {}, { outputs: 2 }), /has 2 outputs; Relu has at most 1 \(Y\)/));
  it('BatchNormalization\'s running statistics outside training mode', () => rejects(
    importAndTrace('BatchNormalization', [['x', f32([2, 3])], ['s', f32([3])], ['b', f32([3])], ['m', f32([3])], ['v', f32([3])]], {}, { outputs: 2 }),
    /output 1 \(running_mean\) exists in training mode only/,
  ));
  it('a Gather index out of range', () => rejects(importAndTrace('Gather', [['x', f32([3, 2])], ['i', i64([3])]]), /index 3 is out of range for axis 0 of length 3/));
  it('a Reshape with two -1', () => rejects(importAndTrace('Reshape', [['x', f32([2, 3])], ['s', i64([-1, -1])]]), /shape \[-1,-1\] has more than one -1/));
  it('Einsum with three operands', () => rejects(importAndTrace('Einsum', [['a', f32([2])], ['b', f32([2])], ['c', f32([2])]], { equation: str('i,i,i->') }), /has 3 operands; one or two are supported/));
  it('training-mode Dropout that would drop', () => rejects(
    importAndTrace('Dropout', [['x', f32([2])], ['r', new Tensor('float32', [], Float32Array.from([0.5]))], ['t', new Tensor('bool', [], Uint8Array.from([1]))]], {}, { initializers: ['r'] }),
    /training_mode with ratio 0\.5 drops random elements; import a model exported for inference/,
  ));
  it('an op newer than the model\'s opset', () => rejects(() => importAndTrace('LayerNormalization', [['x', f32([2, 3])], ['s', f32([3])]], {}, { opset: 13 }), /LayerNormalization is imported from opset 17; this model imports opset 13/));
});

describe('unsupported ops', () => {
  it('are all named at once, with what is supported', () => {
    const bytes = graphModel({
      opset: 18,
      nodes: [{ op: 'LRN', inputs: ['x'], outputs: ['a'], attrs: { size: int(3) } }, { op: 'Round', inputs: ['a'], outputs: ['y'] }],
      inputs: [['x', 'float32', [1, 2, 3, 3]]],
      outputs: [['y', 'float32']],
    });
    expect(() => importOnnx(bytes)).toThrow(OnnxError);
    expect(() => importOnnx(bytes)).toThrow(/ONNX ops LRN, Round have no mapping to np ops\. Supported: Abs, Add, .*LayerNormalization.*\(docs\/onnx-ops\.md\)/);
  });
});

describe('shape computations fold at import', () => {
  // PyTorch's x.view(x.size(0), -1) with a dynamic batch axis: Shape → Gather → Unsqueeze → Concat → Reshape
  const viewFlat = graphModel({
    opset: 13,
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Constant', inputs: [], outputs: ['zero'], attrs: { value_int: int(0) } },
      { op: 'Gather', inputs: ['s', 'zero'], outputs: ['b'], attrs: { axis: int(0) } },
      { op: 'Constant', inputs: [], outputs: ['axes'], attrs: { value_ints: ints([0]) } },
      { op: 'Unsqueeze', inputs: ['b', 'axes'], outputs: ['b1'] },
      { op: 'Constant', inputs: [], outputs: ['minus1'], attrs: { value_ints: ints([-1]) } },
      { op: 'Concat', inputs: ['b1', 'minus1'], outputs: ['shape'], attrs: { axis: int(0) } },
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['flat'] },
      { op: 'ReduceSum', inputs: ['flat'], outputs: ['y'], attrs: { keepdims: int(0) } },
    ],
    inputs: [['x', 'float32', [null, 2, 3]]],
    outputs: [['y', 'float32']],
  });

  it('PyTorch\'s x.view(x.size(0), -1) imports and runs at any batch size', async () => {
    const m = importOnnx(viewFlat);
    for (const n of [1, 4]) {
      const x = f32([n, 2, 3]);
      const y = (await jit((x: Value) => m.fn(x)[0]!)(x)) as Tensor;
      expect(y.shape).toEqual([]);
      expect(y.item()).toBeCloseTo(x.toArray().reduce((a, b) => a + b, 0), 4);
    }
  });

  it('a shape computed from the data itself cannot fold: a clear error', async () => {
    const bytes = graphModel({
      opset: 13,
      nodes: [
        { op: 'ReduceMax', inputs: ['x'], outputs: ['m'], attrs: { keepdims: int(0), axes: ints([0]) }, name: 'max' },
        { op: 'Cast', inputs: ['m'], outputs: ['s'], attrs: { to: int(7) } },
        { op: 'Reshape', inputs: ['x', 's'], outputs: ['y'], name: 'node' },
      ],
      inputs: [['x', 'float32', [2]]],
      outputs: [['y', 'float32']],
    });
    const m = importOnnx(bytes, 'model.onnx');
    await rejects(jit((x: Value) => m.fn(x)[0]!)(f32([2])), /takes its input 1 \(shape\) from a value computed from the model's inputs; only values known at import can be used here/);
  });

  it('float initializers that only feed inputs known at import are constants, not params', () => {
    const bytes = graphModel({
      opset: 13,
      nodes: [{ op: 'Dropout', inputs: ['x', 'ratio'], outputs: ['d'] }, { op: 'Mul', inputs: ['d', 'w'], outputs: ['y'] }],
      inputs: [['x', 'float32', [2]]],
      initializers: [['ratio', new Tensor('float32', [], Float32Array.from([0.1]))], ['w', f32([2])]],
      outputs: [['y', 'float32']],
    });
    const m = importOnnx(bytes);
    expect(Object.keys(m.params)).toEqual(['w']);
    expect(Object.keys(m.initializers).sort()).toEqual(['ratio', 'w']);
  });
});

describe('folding at import is bounded', () => {
  it('a Range of 1e12 elements is an error, not an allocation', () => rejects(
    importAndTrace('Range', [['a', i64([0], [])], ['b', i64([1e12], [])], ['c', i64([1], [])]]),
    /Range: folding it at import would make a tensor of 1000000000000 elements/,
  ));
  it('so is Tile of a folded value into 1e10 elements', () => rejects(
    importAndTrace('Tile', [['x', i64([1, 2])], ['r', i64([5e9])]]),
    /folding it at import would make a tensor of 10000000000 elements/,
  ));
});
