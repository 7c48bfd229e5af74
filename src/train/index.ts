/** train: data, optimizers and schedules, losses, checkpoints, the compiled step and the run loop. */
export * from './portable.js';
export * from './data.js';
export * from './checkpoint.js';
export * from './run.js';
export * from './cifar.js';
export { prepareRunDir, readRunCheckpoint, readRunMeta, type RunDirOptions } from './rundir.js';
export { cellModelOf, cellSourceOf, sha256Hex, type CellFile, type CellSource } from './cellSource.js';
export * from './inference.js';
export * from './model.js';
