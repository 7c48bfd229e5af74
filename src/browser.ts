/**
 * Browser entry (dist/browser/deq-onnx.js): the same API as the Node entry, with sessions on
 * onnxruntime-web and without the helpers that need a file system (`exportOnnx`; `train` without
 * its file loaders, checkpoints and `trainRun`). onnxruntime-web stays an external import: the page
 * (an import map) or the app's bundler resolves it, so the app picks the build (wasm, webgpu) and
 * serves its .wasm files. `loadOnnx` and `importOnnx` take bytes here.
 */
import { setRuntimeDefaults } from './backend/runtime.js';

setRuntimeDefaults({ runtime: 'web' });

export * from './api.js';
export * as train from './train/portable.js';
