/** train: data, optimizers and schedules, losses, checkpoints, the compiled step and the run loop. */
export * from './data.js';
export * from './optim.js';
export * from './losses.js';
export * from './checkpoint.js';
export * from './step.js';
export * from './run.js';
export * from './cifar.js';
export * from './errors.js';
export { prepareRunDir, readRunCheckpoint, readRunMeta, type RunDirOptions } from './rundir.js';
export { cellModelOf, cellSourceOf, sha256Hex, type CellSource } from './cellSource.js';
export * from './inference.js';
export * from './model.js';
