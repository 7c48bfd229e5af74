/**
 * One-node cases for every op the import maps (test/onnx-ops-*.test.ts run them by family;
 * test/onnx-ops-table.test.ts checks that every op has one, and every differentiable op one with
 * derivatives). Default opset 18; shapes small; attribute variants and old-opset forms included.
 */
import { type Attr, float, floats, int, ints, str, tensorAttr } from './onnx-node.js';
import type { InputSpec, OpCase } from './onnx-op-check.js';
import { Tensor } from '../../src/index.js';

export interface Case extends OpCase {
  /** Skip the derivative check (integer or boolean results, casts out of float64). */
  grad?: false;
}

const x = (name: string, shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ name, shape, ...extra });
const pos = (name: string, shape: number[]): InputSpec => ({ name, shape, positive: true });
const i64 = (name: string, values: number[], valueShape?: number[]): InputSpec => ({ name, values, valueShape, dtype: 'int64' });
const fv = (name: string, values: number[], valueShape?: number[]): InputSpec => ({ name, values, valueShape, dtype: 'float' });
const bools = (name: string, values: number[], valueShape?: number[]): InputSpec => ({ name, values, valueShape, dtype: 'bool' });
const none = (name: string): InputSpec => ({ name, absent: true });
const unary = (op: string, extra: Record<string, Attr> = {}, opset = 18, input: InputSpec = x('X', [3, 4])): Case => ({ op, opset, inputs: [input], attrs: extra });

export const NORMALIZATION: Case[] = [
  { op: 'LayerNormalization', opset: 17, inputs: [x('X', [2, 3, 4]), x('Scale', [4]), x('B', [4])] },
  { op: 'LayerNormalization', label: 'axis 1, no bias, epsilon', opset: 17, inputs: [x('X', [2, 3, 4]), x('Scale', [3, 4]), none('B')], attrs: { axis: int(1), epsilon: float(1e-3) } },
  { op: 'InstanceNormalization', inputs: [x('input', [2, 3, 4, 5]), x('scale', [3]), x('B', [3])] },
  { op: 'GroupNormalization', label: 'opset 18, per-group scale', opset: 18, inputs: [x('X', [2, 4, 3, 3]), x('scale', [2]), x('bias', [2])], attrs: { num_groups: int(2) } },
  // stash_type 1 (the default): onnxruntime computes the statistics of a float64 input in float32
  { op: 'GroupNormalization', label: 'opset 21, per-channel scale', opset: 21, tol64: 1e-6, inputs: [x('X', [2, 6, 2, 3]), x('scale', [6]), x('bias', [6])], attrs: { num_groups: int(3), epsilon: float(1e-4) } },
  { op: 'GroupNormalization', label: 'opset 21, stash_type float64', opset: 21, inputs: [x('X', [2, 4, 3]), x('scale', [4]), x('bias', [4])], attrs: { num_groups: int(2), stash_type: int(11) } },
  { op: 'BatchNormalization', inputs: [x('X', [2, 3, 4, 4]), x('scale', [3]), x('B', [3]), x('input_mean', [3]), pos('input_var', [3])], attrs: { epsilon: float(1e-3) } },
  { op: 'BatchNormalization', label: 'rank 2', opset: 9, inputs: [x('X', [4, 3]), x('scale', [3]), x('B', [3]), x('input_mean', [3]), pos('input_var', [3])] },
  {
    op: 'BatchNormalization', label: 'training mode', opset: 15, outputs: 3,
    inputs: [x('X', [3, 2, 4]), x('scale', [2]), x('B', [2]), x('input_mean', [2]), pos('input_var', [2])], attrs: { training_mode: int(1), momentum: float(0.8) },
  },
  { op: 'MeanVarianceNormalization', inputs: [x('X', [2, 3, 4, 2])] },
  { op: 'MeanVarianceNormalization', label: 'axes [1]', inputs: [x('X', [2, 5])], attrs: { axes: ints([1]) } },
];

export const CONV: Case[] = [
  { op: 'Gemm', inputs: [x('A', [3, 4]), x('B', [5, 4]), x('C', [5])], attrs: { transB: int(1), alpha: float(0.7), beta: float(1.3) } },
  { op: 'Gemm', label: 'transA, C [3, 1]', inputs: [x('A', [4, 3]), x('B', [4, 5]), x('C', [3, 1])], attrs: { transA: int(1) } },
  { op: 'Gemm', label: 'no C', opset: 13, inputs: [x('A', [2, 3]), x('B', [3, 2])] },
  { op: 'MatMul', inputs: [x('A', [2, 3, 4]), x('B', [4, 5])] },
  { op: 'MatMul', label: '1-D by batched', inputs: [x('A', [4]), x('B', [2, 4, 3])] },
  { op: 'Einsum', label: 'batched matmul', inputs: [x('A', [2, 3, 4]), x('B', [2, 4, 5])], attrs: { equation: str('bij,bjk->bik') } },
  { op: 'Einsum', label: 'outer product, implicit output', inputs: [x('A', [3]), x('B', [4])], attrs: { equation: str('i,j') } },
  { op: 'Einsum', label: 'contraction with a summed-out label', inputs: [x('A', [2, 3, 4]), x('B', [4, 3])], attrs: { equation: str('abc,cb->a') } },
  { op: 'Einsum', label: 'ellipsis', inputs: [x('A', [2, 3, 4]), x('B', [4, 2])], attrs: { equation: str('...ij,jk->...ik') } },
  { op: 'Einsum', label: 'one operand: transpose and sum', inputs: [x('A', [2, 3, 4])], attrs: { equation: str('ijk->ki') } },
  { op: 'Conv', inputs: [x('X', [1, 2, 5, 5]), x('W', [3, 2, 3, 3]), x('B', [3])], attrs: { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) } },
  { op: 'Conv', label: '1-D, dilation 2', inputs: [x('X', [2, 2, 7]), x('W', [3, 2, 3])], attrs: { dilations: ints([2]) } },
  { op: 'Conv', label: '3-D, strides and pads', inputs: [x('X', [1, 2, 4, 4, 3]), x('W', [2, 2, 2, 2, 2]), x('B', [2])], attrs: { strides: ints([1, 2, 1]), pads: ints([1, 0, 1, 0, 1, 0]) } },
  { op: 'Conv', label: 'group 2, SAME_UPPER, stride 2', inputs: [x('X', [1, 4, 5, 5]), x('W', [4, 2, 3, 3])], attrs: { group: int(2), auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) } },
  { op: 'Conv', label: 'SAME_LOWER, kernel_shape', inputs: [x('X', [1, 1, 4, 4]), x('W', [2, 1, 2, 2])], attrs: { auto_pad: str('SAME_LOWER'), kernel_shape: ints([2, 2]) } },
  { op: 'ConvTranspose', inputs: [x('X', [1, 2, 3, 3]), x('W', [2, 3, 3, 3]), x('B', [3])], attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), output_padding: ints([1, 1]) } },
  { op: 'ConvTranspose', label: '1-D, group 2', inputs: [x('X', [1, 2, 4]), x('W', [2, 1, 3])], attrs: { group: int(2), strides: ints([2]) } },
  { op: 'ConvTranspose', label: '3-D', inputs: [x('X', [1, 1, 2, 3, 2]), x('W', [1, 2, 2, 2, 2])], attrs: { strides: ints([2, 1, 2]), pads: ints([0, 1, 0, 1, 0, 0]) } },
  { op: 'ConvTranspose', label: 'output_shape', inputs: [x('X', [1, 1, 3, 3]), x('W', [1, 2, 3, 3])], attrs: { strides: ints([3, 2]), output_shape: ints([10, 8]) } },
  { op: 'ConvTranspose', label: 'SAME_UPPER, dilations', inputs: [x('X', [1, 1, 3, 3]), x('W', [1, 2, 3, 3])], attrs: { strides: ints([2, 2]), auto_pad: str('SAME_UPPER'), dilations: ints([2, 1]) } },
  { op: 'MaxPool', inputs: [x('X', [1, 2, 5, 5])], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { op: 'MaxPool', label: 'ceil mode, dilations', inputs: [x('X', [1, 1, 6, 7])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), dilations: ints([2, 1]), ceil_mode: int(1) } },
  { op: 'MaxPool', label: '1-D, SAME_UPPER', inputs: [x('X', [2, 2, 7])], attrs: { kernel_shape: ints([3]), strides: ints([2]), auto_pad: str('SAME_UPPER') } },
  { op: 'MaxPool', label: '3-D', inputs: [x('X', [1, 1, 4, 3, 4])], attrs: { kernel_shape: ints([2, 2, 2]), strides: ints([1, 2, 2]) } },
  { op: 'MaxPool', label: 'with Indices', outputs: 2, outDtypes: ['same', 'int64'], inputs: [x('X', [1, 2, 4, 4])], attrs: { kernel_shape: ints([2, 2]), pads: ints([1, 0, 0, 1]), storage_order: int(1) } },
  { op: 'AveragePool', inputs: [x('X', [1, 2, 5, 5])], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { op: 'AveragePool', label: 'count_include_pad', inputs: [x('X', [1, 1, 5, 4])], attrs: { kernel_shape: ints([3, 2]), pads: ints([1, 1, 2, 0]), count_include_pad: int(1) } },
  { op: 'AveragePool', label: 'ceil mode', inputs: [x('X', [1, 1, 5, 5])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) } },
  { op: 'AveragePool', label: '1-D and 3-D', inputs: [x('X', [1, 2, 3, 4, 3])], attrs: { kernel_shape: ints([2, 3, 2]), strides: ints([1, 1, 2]) } },
  { op: 'AveragePool', label: 'dilations (opset 19)', opset: 19, inputs: [x('X', [1, 1, 6, 6])], attrs: { kernel_shape: ints([2, 2]), dilations: ints([2, 2]) } },
  { op: 'GlobalAveragePool', inputs: [x('X', [2, 3, 4, 5])] },
  { op: 'GlobalMaxPool', inputs: [x('X', [2, 3, 4])] },
];

export const ACTIVATIONS: Case[] = [
  unary('Relu'),
  unary('LeakyRelu', { alpha: float(0.2) }),
  unary('Elu', { alpha: float(0.5) }),
  unary('Selu'),
  unary('Celu', { alpha: float(2) }),
  unary('Gelu', {}, 20),
  // onnxruntime's float64 Gelu and HardSwish use float32 constants (0.044715, √(2/π), 1/6): about 1e-8 apart
  { ...unary('Gelu', { approximate: str('tanh') }, 20), label: 'tanh approximation', tol64: 1e-7 },
  unary('Softplus'),
  { ...unary('Softplus', {}, 18, fv('X', [-40, -3, -0.5, 0, 0.5, 3, 40, 90], [2, 4])), label: 'large |x|' },
  unary('Softsign'),
  unary('HardSigmoid', { alpha: float(0.3), beta: float(0.4) }),
  { ...unary('HardSwish'), tol64: 1e-7 },
  unary('Mish'),
  unary('Sigmoid'),
  unary('Tanh'),
  { op: 'PRelu', inputs: [x('X', [3, 4]), x('slope', [4])] },
  { op: 'PRelu', label: 'slope [3, 1]', inputs: [x('X', [2, 3, 4]), x('slope', [3, 1])] },
  { op: 'Clip', inputs: [x('input', [3, 4]), fv('min', [-0.5], []), fv('max', [0.6], [])] },
  { op: 'Clip', label: 'max only', inputs: [x('input', [3, 4]), none('min'), fv('max', [0.2], [])] },
  { op: 'Clip', label: 'opset 6 attributes', opset: 6, inputs: [x('input', [3, 4])], attrs: { min: float(-0.3), max: float(0.8) } },
  { op: 'Softmax', inputs: [x('input', [2, 3, 4])], attrs: { axis: int(1) } },
  { op: 'Softmax', label: 'opset 11: axes from axis on', opset: 11, inputs: [x('input', [2, 3, 4])], attrs: { axis: int(1) } },
  { op: 'LogSoftmax', inputs: [x('input', [2, 3, 4])] },
  { op: 'LogSoftmax', label: 'opset 11 default axis', opset: 11, inputs: [x('input', [2, 3, 4])] },
];

const f32 = (shape: number[], v: number[]) => new Tensor('float32', shape, Float32Array.from(v));

export const SHAPE: Case[] = [
  { op: 'Reshape', inputs: [x('data', [2, 3, 4]), i64('shape', [0, -1])] },
  { op: 'Reshape', label: 'allowzero', opset: 14, inputs: [x('data', [2, 3, 4]), i64('shape', [6, 4])], attrs: { allowzero: int(1) } },
  { op: 'Flatten', inputs: [x('input', [2, 3, 4, 5])], attrs: { axis: int(2) } },
  { op: 'Flatten', label: 'axis 0', inputs: [x('input', [2, 3])], attrs: { axis: int(0) } },
  { op: 'Squeeze', inputs: [x('data', [2, 1, 3, 1]), i64('axes', [1, -1])] },
  { op: 'Squeeze', label: 'opset 11, every size-1 axis', opset: 11, inputs: [x('data', [1, 3, 1])] },
  { op: 'Unsqueeze', inputs: [x('data', [2, 3]), i64('axes', [0, -1])] },
  { op: 'Unsqueeze', label: 'opset 11 attribute', opset: 11, inputs: [x('data', [2, 3])], attrs: { axes: ints([1]) } },
  { op: 'Transpose', inputs: [x('data', [2, 3, 4])], attrs: { perm: ints([2, 0, 1]) } },
  { op: 'Transpose', label: 'default perm', inputs: [x('data', [2, 3, 4])] },
  { op: 'Concat', inputs: [x('a', [2, 3]), x('b', [2, 2]), x('c', [2, 1])], attrs: { axis: int(-1) } },
  { op: 'Split', outputs: 2, inputs: [x('input', [2, 3]), i64('split', [1, 2])], attrs: { axis: int(1) } },
  { op: 'Split', label: 'num_outputs (opset 18)', outputs: 3, inputs: [x('input', [2, 7])], attrs: { axis: int(1), num_outputs: int(3) } },
  { op: 'Split', label: 'opset 11, equal parts', opset: 11, outputs: 3, inputs: [x('input', [6, 2])] },
  { op: 'Expand', inputs: [x('input', [3, 1]), i64('shape', [2, 1, 4])] },
  { op: 'Tile', inputs: [x('input', [2, 3]), i64('repeats', [2, 1])] },
  { op: 'Shape', outDtypes: ['int64'], inputs: [x('data', [2, 3, 4])] },
  { op: 'Shape', label: 'start and end', outDtypes: ['int64'], inputs: [x('data', [2, 3, 4, 5])], attrs: { start: int(1), end: int(-1) } },
  { op: 'Size', outDtypes: ['int64'], inputs: [x('data', [2, 3, 4])] },
  { op: 'Identity', inputs: [x('input', [3, 4])] },
  { op: 'Dropout', outputs: 2, outDtypes: ['same', 'bool'], inputs: [x('data', [3, 4]), { ...fv('ratio', [0.3], []), constant: true }] },
  { op: 'Dropout', label: 'training mode, ratio 0', opset: 13, inputs: [x('data', [3, 4]), { ...fv('ratio', [0], []), constant: true }, bools('training_mode', [1], [])] },
  { op: 'Dropout', label: 'opset 10 attribute', opset: 10, inputs: [x('data', [3, 4])], attrs: { ratio: float(0.2) } },
  { op: 'Constant', outDtypes: ['float32'], inputs: [], attrs: { value: tensorAttr(f32([2, 2], [1, 2, 3, 4])) } },
  { op: 'Constant', label: 'value_ints', outDtypes: ['int64'], inputs: [], attrs: { value_ints: ints([3, 1, 2]) } },
  { op: 'Constant', label: 'value_floats', outDtypes: ['float32'], inputs: [], attrs: { value_floats: floats([0.5, -1]) } },
  { op: 'ConstantOfShape', outDtypes: ['float32'], inputs: [i64('input', [2, 3])], attrs: { value: tensorAttr(f32([1], [1.5])) } },
  { op: 'ConstantOfShape', label: 'default zeros', outDtypes: ['float32'], inputs: [i64('input', [3])] },
  { op: 'Range', outDtypes: ['int64'], inputs: [i64('start', [1], []), i64('limit', [8], []), i64('delta', [2], [])] },
  {
    op: 'Range', label: 'float, negative delta',
    inputs: [{ ...fv('start', [1], []), constant: true }, { ...fv('limit', [-1.5], []), constant: true }, { ...fv('delta', [-0.5], []), constant: true }],
  },
  { op: 'Slice', inputs: [x('data', [4, 5]), i64('starts', [1, -1]), i64('ends', [3, -5]), i64('axes', [0, 1]), i64('steps', [1, -2])] },
  { op: 'Slice', label: 'clamped end, default axes', inputs: [x('data', [3, 6]), i64('starts', [-10, 1]), i64('ends', [1000, 1000])] },
  { op: 'Slice', label: 'steps 2 on one axis', inputs: [x('data', [3, 7]), i64('starts', [0]), i64('ends', [9223372036854775807]), i64('axes', [-1]), i64('steps', [3])] },
  { op: 'Slice', label: 'opset 9 attributes', opset: 9, inputs: [x('data', [3, 4])], attrs: { starts: ints([1]), ends: ints([3]), axes: ints([1]) } },
  { op: 'Gather', inputs: [x('data', [5, 4]), i64('indices', [0, -1, 2, 2], [2, 2])] },
  { op: 'Gather', label: 'axis 1', inputs: [x('data', [2, 4, 3]), i64('indices', [3, 0, 1])], attrs: { axis: int(1) } },
  { op: 'Gather', label: 'scalar index', inputs: [x('data', [3, 4]), i64('indices', [1], [])], attrs: { axis: int(-1) } },
  { op: 'Pad', inputs: [x('data', [2, 3]), i64('pads', [1, 0, 0, 2]), fv('constant_value', [0.5], [])] },
  { op: 'Pad', label: 'reflect', inputs: [x('data', [3, 4]), i64('pads', [2, 1, 1, 3])], attrs: { mode: str('reflect') } },
  { op: 'Pad', label: 'edge', inputs: [x('data', [2, 3]), i64('pads', [1, 2, 2, 0])], attrs: { mode: str('edge') } },
  { op: 'Pad', label: 'wrap (opset 19)', opset: 19, inputs: [x('data', [3, 4]), i64('pads', [1, 2, 2, 3])], attrs: { mode: str('wrap') } },
  { op: 'Pad', label: 'negative pads crop', inputs: [x('data', [4, 5]), i64('pads', [-1, 1, 2, -2])] },
  { op: 'Pad', label: 'axes input', inputs: [x('data', [2, 3, 2]), i64('pads', [2, 1]), none('constant_value'), i64('axes', [1])] },
  { op: 'Pad', label: 'opset 10 attributes', opset: 10, inputs: [x('data', [2, 3])], attrs: { pads: ints([0, 1, 1, 0]), value: float(0.2) } },
  { op: 'Where', inputs: [bools('condition', [1, 0, 1, 1, 0, 0], [2, 3]), x('X', [2, 3]), x('Y', [3])] },
];

const reduceCase = (op: string, input: InputSpec = x('data', [3, 4, 5])): Case[] => [
  { op, inputs: [input, i64('axes', [0, 2])], attrs: { keepdims: int(0) } },
  { op, label: 'opset 13, axes attribute', opset: 13, inputs: [input], attrs: { axes: ints([-2]) } },
  { op, label: 'all axes', inputs: [input] },
];

export const REDUCE: Case[] = [
  ...['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp'].flatMap((op) => reduceCase(op)),
  ...reduceCase('ReduceLogSum', pos('data', [3, 4, 5])),
  { op: 'ReduceSum', opset: 13, inputs: [x('data', [3, 4, 5]), i64('axes', [1])], attrs: { keepdims: int(0) } },
  { op: 'ReduceSum', label: 'opset 11, axes attribute', opset: 11, inputs: [x('data', [3, 4])], attrs: { axes: ints([0]) } },
  { op: 'ReduceSum', label: 'noop with empty axes', opset: 13, inputs: [x('data', [3, 4])], attrs: { noop_with_empty_axes: int(1) } },
];

const binaryCase = (op: string, b: InputSpec = x('B', [4])): Case => ({ op, inputs: [x('A', [3, 4]), b] });
const compare = (op: string): Case => ({ op, outDtypes: ['bool'], inputs: [fv('A', [1, 2, 3, 4, 5, 6], [2, 3]), fv('B', [3, 2, 1], [3])] });
const logic = (op: string): Case => ({ op, outDtypes: ['bool'], inputs: [bools('A', [1, 0, 1, 0], [2, 2]), bools('B', [1, 1, 0, 0], [2, 2])] });

export const MATH: Case[] = [
  binaryCase('Add'),
  binaryCase('Sub'),
  binaryCase('Mul'),
  binaryCase('Div', pos('B', [4])),
  { op: 'Pow', inputs: [pos('X', [3, 4]), x('Y', [4])] },
  { op: 'Pow', label: 'integer exponent', inputs: [x('X', [3, 4]), i64('Y', [3], [])] },
  { op: 'Mod', outDtypes: ['int64'], inputs: [i64('A', [7, -7, 5, -5]), i64('B', [3, 3, -2, -2])] },
  { op: 'Mod', label: 'fmod', outDtypes: ['int64'], inputs: [i64('A', [7, -7, 5, -5]), i64('B', [3, 3, -2, -2])], attrs: { fmod: int(1) } },
  unary('Abs'),
  unary('Neg'),
  unary('Sign'),
  unary('Exp'),
  unary('Log', {}, 18, pos('X', [3, 4])),
  unary('Sqrt', {}, 18, pos('X', [3, 4])),
  unary('Reciprocal', {}, 18, pos('X', [3, 4])),
  unary('Erf'),
  { ...unary('Erf', {}, 18, fv('X', [-7, -4.2, -2.7, -1.1, -0.6, 0, 0.3, 0.9, 1.4, 2.2, 3.3, 5.5], [3, 4])), label: 'every piece' },
  { op: 'Sum', inputs: [x('a', [3, 4]), x('b', [4]), x('c', [3, 1])] },
  { op: 'Mean', inputs: [x('a', [3, 4]), x('b', [4]), x('c', [3, 1])] },
  { op: 'Max', inputs: [x('a', [3, 4]), x('b', [4]), x('c', [3, 1])] },
  { op: 'Min', inputs: [x('a', [3, 4]), x('b', [4]), x('c', [3, 1])] },
  { op: 'Max', label: 'one input', inputs: [x('a', [3, 4])] },
  { op: 'Max', label: 'integers', outDtypes: ['int64'], inputs: [i64('a', [1, 5, 3]), i64('b', [4, 2, 6]), i64('c', [0, 9, 1])] },
  compare('Equal'),
  compare('Less'),
  compare('Greater'),
  compare('LessOrEqual'),
  compare('GreaterOrEqual'),
  logic('And'),
  logic('Or'),
  logic('Xor'),
  { op: 'Not', outDtypes: ['bool'], inputs: [bools('X', [1, 0, 0])] },
  { op: 'Cast', label: 'to float64', outDtypes: ['float64'], inputs: [x('input', [3, 4])], attrs: { to: int(11) } },
  { op: 'Cast', label: 'to int64', outDtypes: ['int64'], grad: false, inputs: [fv('input', [-2.7, -0.5, 0.5, 3.9])], attrs: { to: int(7) } },
  { op: 'Cast', label: 'int64 to float32', outDtypes: ['float32'], grad: false, inputs: [i64('input', [1, -2, 3])], attrs: { to: int(1) } },
  { op: 'CastLike', outDtypes: ['float64'], inputs: [x('input', [3, 2]), { name: 'target_type', values: [0], dtype: 'float64', constant: true }] },
];

export const CASES: Readonly<Record<string, Case[]>> = {
  normalization: NORMALIZATION,
  'linear and conv': CONV,
  activations: ACTIVATIONS,
  'shape and indexing': SHAPE,
  reductions: REDUCE,
  maths: MATH,
};
