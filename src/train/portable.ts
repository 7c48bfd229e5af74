/**
 * train, less what needs a file system: in-memory data sets and the bundled digits' split, packed
 * digits, optimizers and schedules, losses, the compiled step, the epoch loop and residual traces.
 * The browser entry exports this as its `train`; the Node entry's `train` adds the file loaders,
 * checkpoints and `trainRun` with its output folder.
 */
export * from './dataset.js';
export * from './digits.js';
export * from './optim.js';
export * from './losses.js';
export * from './step.js';
export * from './loop.js';
export * from './residuals.js';
export * from './errors.js';
export * from './settings.js';
