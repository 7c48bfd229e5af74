/**
 * Tensors whose declared size does not match what the file holds, as small model files: each must
 * be refused before anything of the declared size is allocated.
 */
import { buildModel, int64s, node, type Obj, vi } from './onnx-build.js';

const addW = (W: Obj) => buildModel({ nodes: [node('Add', ['x', 'W'], ['y'])], initializers: [W], inputs: [vi('x', [4])], outputs: [vi('y', [4])] });
const raw16 = new Uint8Array(16);

export const sizeCases: { name: string; tensor: string; bytes: () => Uint8Array }[] = [
  { name: 'dims 2^32 with 16 bytes of data (16 GiB declared)', tensor: 'W', bytes: () => addW({ name: 'W', dims: [2 ** 32], dataType: 1, rawData: raw16 }) },
  { name: 'dims 2^40 with 16 bytes of data', tensor: 'W', bytes: () => addW({ name: 'W', dims: [2 ** 40], dataType: 1, rawData: raw16 }) },
  { name: 'dims whose product overflows 2^64', tensor: 'W', bytes: () => addW({ name: 'W', dims: [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20], dataType: 1, rawData: raw16 }) },
  { name: 'a negative dimension', tensor: 'W', bytes: () => addW({ name: 'W', dims: [-4], dataType: 1, rawData: raw16 }) },
  { name: 'dims 2^32 with no data at all', tensor: 'W', bytes: () => addW({ name: 'W', dims: [2 ** 32], dataType: 1 }) },
  { name: 'shape [4] with two values in float_data', tensor: 'W', bytes: () => addW({ name: 'W', dims: [4], dataType: 1, floatData: [1, 2] }) },
  {
    name: 'a sparse initializer of dense shape [2^32] (onnxruntime would densify it)',
    tensor: 'S',
    bytes: () =>
      buildModel({
        nodes: [node('Add', ['x', 'S'], ['y'])],
        sparseInitializers: [{ values: { name: 'S', dims: [1], dataType: 1, floatData: [1] }, indices: int64s('i', [1], [0]), dims: [2 ** 32] }],
        inputs: [vi('x', [null])],
        outputs: [vi('y', [null])],
      }),
  },
  {
    name: 'a Constant attribute of dims 2^32 with 16 bytes',
    tensor: 'k',
    bytes: () =>
      buildModel({
        nodes: [node('Constant', [], ['W'], [{ name: 'value', type: 4, t: { name: 'k', dims: [2 ** 32], dataType: 1, rawData: raw16 } }]), node('Add', ['x', 'W'], ['y'])],
        inputs: [vi('x', [4])],
        outputs: [vi('y', [4])],
      }),
  },
];
