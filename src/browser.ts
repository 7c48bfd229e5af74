/**
 * Browser entry (dist/browser/deq-onnx.js): the library without its file-system helpers, with
 * sessions on onnxruntime-web. onnxruntime-web stays an external import: the page (an import map)
 * or the app's bundler resolves it, so the app picks the build (wasm, webgpu) and serves its .wasm files.
 */
import { setRuntimeDefaults } from './backend/runtime.js';

setRuntimeDefaults({ runtime: 'web' });

export * as np from './ops/np.js';
export { Tensor, tensor, zeros, ones, full, scalar, allFinite, type Shape } from './core/tensor.js';
export type { DType } from './core/dtype.js';
export { Rng } from './core/random.js';
export * from './core/errors.js';
export { treeFlatten, treeUnflatten, treeMap, treeLeaves } from './core/pytree.js';
export { Tracer } from './core/trace.js';
export type { Value } from './core/primitive.js';
export { graphToString } from './core/ir.js';
export { jit, type JitOptions, type Jitted } from './transforms/jit.js';
export { grad, valueAndGrad, jvp, vjp, type GradOptions } from './transforms/grad.js';
export { vmap, type VmapOptions } from './transforms/vmap.js';
export { setRuntimeDefaults, createSession, type RuntimeOptions, type Session } from './backend/runtime.js';
// loadOnnx takes bytes here (a path needs a file system)
export { toOnnx, loadOnnx, type ExportOptions, type ExampleArgs, type ManifestEntry, type LoadedModel, type Exported, type TensorInfo } from './backend/export.js';
export { importOnnx, type ImportedModel } from './backend/import.js';
export * from './solvers/index.js';
export { customVjp, type CustomVjpRule } from './transforms/customVjp.js';
export { customJvp } from './transforms/customJvp.js';
