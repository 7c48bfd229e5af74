/** nn: functional layers, the tutorial's cells and models, and DEQs on imported .onnx cells. */
export * from './init.js';
export * from './layers.js';
export * from './cells.js';
export * from './deq.js';
export * from './models.js';
export * from './paramNorm.js';
export * from './onnxCell.js';
export * from './normalizedModel.js';
