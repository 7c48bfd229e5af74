/**
 * A training run: the epoch loop (loop.ts) on the model its settings describe, with a checkpoint
 * (atomic) and metrics file after every epoch, resume from the last one, and the test result
 * written once the run is done. At the boundary the run is a TaskEither: failures are values the
 * caller must look at.
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { DeqError } from '../core/errors.js';
import { writeAtomic } from '../util/fs.js';
import { buildModel } from './model.js';
import type { CellFile } from './cellSource.js';
import { saveCheckpoint } from './checkpoint.js';
import { CHECKPOINT_FILE, METRICS_FILE, prepareRunDir, readRunCheckpoint } from './rundir.js';
import type { DataSplit } from './dataset.js';
import { type LoopOptions, type TrainConfig, trainEpochs, type TrainResult, validateConfig } from './loop.js';

export {
  jacobianStepRng, makeOptimizer, makeSchedule, validateConfig,
  type BatchProgress, type EpochMetrics, type Evaluation, type OptimizerName, type ScheduleName, type TrainConfig, type TrainResult,
} from './loop.js';

export interface RunOptions extends Omit<LoopOptions, 'start' | 'afterEpoch'> {
  /** Folder for the checkpoint and metrics.json, checked (created, test-written) before training. */
  outDir?: string;
  /** Continue from the checkpoint in outDir. */
  resume?: boolean;
  /** Replace a checkpoint already in outDir (without it, or resume, such a folder is refused). */
  overwrite?: boolean;
  onResume?: (epoch: number) => void;
  /** The .onnx file that config.cell names: its bytes, or the file as cellSourceOf read it (its hash must match). */
  cellFile?: Uint8Array | CellFile;
}

export { CHECKPOINT_FILE, METRICS_FILE };

/** The loop on the config's model, with the output folder: checked before the first step, resumed from, written after every epoch. */
async function runEpochs(config: TrainConfig, data: DataSplit, opts: RunOptions): Promise<TrainResult> {
  const { outDir, resume, overwrite, onResume, cellFile, ...loop } = opts;
  const [, c, h] = data.train.images.shape as [number, number, number, number];
  const model = buildModel(config, { channels: c, size: h }, config.deq, cellFile);
  if (outDir === undefined) return trainEpochs(config, data, model, loop);
  const ckPath = join(outDir, CHECKPOINT_FILE);
  const meta = (history: unknown) => ({ config, history, data: data.source, model: model.name, deq: model.deq });
  const result = await trainEpochs(config, data, model, {
    ...loop,
    async start(fresh) {
      const dir = prepareRunDir(outDir, { resume, overwrite });
      if (E.isLeft(dir)) throw dir.left;
      if (!resume || !dir.right.hasCheckpoint) return undefined;
      const saved = readRunCheckpoint(ckPath, config, fresh);
      if (E.isLeft(saved)) throw saved.left;
      const { params, state, optState, history } = saved.right;
      // a run killed between writing metrics.json and the checkpoint left metrics one epoch ahead
      await writeAtomic(join(outDir, METRICS_FILE), metricsJson(saved.right.meta));
      onResume?.(history.length);
      return { trees: { params, state, optState }, history };
    },
    async afterEpoch(trees, history) {
      // metrics first: a kill between the two writes leaves metrics.json ahead of the checkpoint,
      // never behind it, and the resume rewrites it from the checkpoint
      await writeAtomic(join(outDir, METRICS_FILE), metricsJson(meta(history)));
      await saveCheckpoint(ckPath, { meta: meta(history), trees: { params: trees.params, state: trees.state, optState: trees.optState } });
    },
  });
  await writeAtomic(join(outDir, METRICS_FILE), metricsJson({ ...meta(result.history), test: result.test }));
  return result;
}

/** metrics.json: the run's settings and per-epoch history, and once the run is done its test result. */
const metricsJson = (meta: Record<string, unknown>): string =>
  `${JSON.stringify({ config: meta.config, data: meta.data, deq: meta.deq, history: meta.history, ...(meta.test ? { test: meta.test } : {}) }, null, 2)}\n`;

/** Train; every failure (bad config, bad data, runtime error) comes back as a Left. */
export function trainRun(config: TrainConfig, data: DataSplit, opts: RunOptions = {}): TE.TaskEither<DeqError, TrainResult> {
  return TE.tryCatch(
    async () => {
      const v = validateConfig(config);
      if (E.isLeft(v)) throw v.left;
      return runEpochs(config, data, opts);
    },
    (e) => (e instanceof DeqError ? e : new DeqError(e instanceof Error ? `${e.message}` : String(e))),
  );
}
