/** deq-onnx: implicit layers and Deep Equilibrium Models, traced to ONNX and run on onnxruntime (Node entry). */
export * from './api.js';
// writing files needs a file system
export { exportOnnx } from './onnx/export.js';
export * as train from './train/index.js';
