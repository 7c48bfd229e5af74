/**
 * A training run: the epoch loop (loop.ts) with a checkpoint (atomic) and metrics file after every
 * epoch, and resume from the last one. At the boundary the run is a TaskEither: failures are values
 * the caller must look at.
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { DeqError } from '../core/errors.js';
import { writeAtomic } from '../util/fs.js';
import { saveCheckpoint } from './checkpoint.js';
import { CHECKPOINT_FILE, METRICS_FILE, prepareRunDir, readRunCheckpoint } from './rundir.js';
import type { DataSplit } from './dataset.js';
import {
  type BatchProgress, type EpochMetrics, type LoopOptions, makeOptimizer, makeSchedule, type OptimizerName, type ScheduleName,
  type TrainConfig, trainEpochs, type TrainResult, validateConfig,
} from './loop.js';

export { makeOptimizer, makeSchedule, validateConfig, type OptimizerName, type ScheduleName, type TrainConfig, type EpochMetrics, type BatchProgress, type TrainResult };

export interface RunOptions extends Omit<LoopOptions, 'start' | 'afterEpoch'> {
  /** Folder for the checkpoint and metrics.json, checked (created, test-written) before training. */
  outDir?: string;
  /** Continue from the checkpoint in outDir. */
  resume?: boolean;
  /** Replace a checkpoint already in outDir (without it, or resume, such a folder is refused). */
  overwrite?: boolean;
  onResume?: (epoch: number) => void;
}

export { CHECKPOINT_FILE, METRICS_FILE };

/** The loop with the output folder: checked before the first step, resumed from, written after every epoch. */
async function runEpochs(config: TrainConfig, data: DataSplit, opts: RunOptions): Promise<TrainResult> {
  const { outDir, resume, overwrite, onResume, ...loop } = opts;
  if (outDir === undefined) return trainEpochs(config, data, loop);
  const ckPath = join(outDir, CHECKPOINT_FILE);
  return trainEpochs(config, data, {
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
    async afterEpoch(trees, history, model) {
      const meta = { config, history, data: data.source, model: model.name, deq: model.deq };
      // metrics first: a kill between the two writes leaves metrics.json ahead of the checkpoint,
      // never behind it, and the resume rewrites it from the checkpoint
      await writeAtomic(join(outDir, METRICS_FILE), metricsJson(meta));
      await saveCheckpoint(ckPath, { meta, trees: { params: trees.params, state: trees.state, optState: trees.optState } });
    },
  });
}

const metricsJson = (meta: Record<string, unknown>): string =>
  `${JSON.stringify({ config: meta.config, data: meta.data, deq: meta.deq, history: meta.history }, null, 2)}\n`;

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
