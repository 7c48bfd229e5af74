/**
 * Run in a child process (onnxruntime's process-wide logger is set up once per process): a CUDA
 * provider that fails to load, then a run that fails inside onnxruntime. Prints the error it got.
 */
import { createSession } from '../../src/extend.js';
import { loadOnnx, np, Tensor, toOnnx, type Value } from '../../src/index.js';
import { buildModel, node, vi } from './onnx-build.js';

const tanh = toOnnx((x: Value) => np.tanh(x), [new Tensor('float32', [2])]).bytes;
const s = await createSession(tanh, { executionProviders: ['cuda', 'cpu'] });
await s.release();
const reshape = buildModel({ nodes: [node('Reshape', ['x', 's'], ['y'], [], 'theReshape')], inputs: [vi('x', [4]), vi('s', [1], 7)], outputs: [vi('y', [null])] });
const m = await loadOnnx(reshape);
try {
  await m.run([new Tensor('float32', [4]), new Tensor('int64', [1], BigInt64Array.from([5n]))]);
  console.log(JSON.stringify({ error: null }));
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).constructor.name, message: (e as Error).message }));
}
