/**
 * The epoch loop of a training run, with nothing that needs a file system: seeded shuffled batches
 * (and random shifts) through the compiled step, evaluation on the test set after every epoch. The
 * Node run (run.ts) adds its output folder through the `start` and `afterEpoch` hooks; a browser
 * page runs the same loop, so the same seed gives it the same batches and steps.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Rng } from '../core/random.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import type { FixedPointOptions } from '../solvers/index.js';
import { makeModel, type Model, type ModelName } from '../nn/models.js';
import { SettingError, type SettingName } from './errors.js';
import { batchCount, batches, type DataSplit, type Dataset, randomShift, sizeOfDataset, take } from './dataset.js';
import { adam, constantLr, cosineLr, type Optimizer, type Schedule, sgd, stepLr } from './optim.js';
import { makeTrainer, type StepReport, type Trainer } from './step.js';

export type OptimizerName = 'adam' | 'sgd';
export type ScheduleName = 'cosine' | 'step' | 'constant';

export interface TrainConfig {
  model: ModelName;
  /** Overrides of the model's solver defaults, or false for an explicit layer in place of the DEQ. */
  deq: FixedPointOptions | false;
  optimizer: OptimizerName;
  schedule: ScheduleName;
  lr: number;
  /** Decoupled weight decay for Adam (AdamW), L2 for SGD (default 0). */
  weightDecay?: number;
  /** Clip the global gradient norm to this value (default: none). */
  clipNorm?: number;
  /** Shift training images by up to this many pixels, at random per image and epoch (default 0). */
  augment?: number;
  epochs: number;
  batchSize: number;
  evalBatchSize?: number;
  seed: number;
  /** Limit the training set to its first n samples (quick runs). */
  trainLimit?: number;
  /** Limit the test set to its first n samples. */
  testLimit?: number;
  /** How the data was named (`mnist` or a folder), kept in the checkpoint so tools can reload it. */
  dataSpec?: string;
}

export interface EpochMetrics {
  epoch: number;
  lr: number;
  trainError: number;
  trainLoss: number;
  forwardIters: number;
  backwardIters: number;
  testError: number;
  testLoss: number;
  testForwardIters: number;
  seconds: number;
  steps: number;
  skipped: number;
  unconverged: number;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  /** Mean loss of the epoch's steps so far. */
  loss: number;
  report: StepReport;
  /** Samples in this step's batch. */
  samples: number;
  /** Wall-clock seconds of this step (the compiled graph and the host update; the first includes compiling). */
  seconds: number;
  /** The model after this step (a page predicts and plots with it). */
  params: unknown;
  state: unknown;
}

/** What a run trains: the model's params and state, and the optimizer's state. */
export interface TrainTrees { params: unknown; state: unknown; optState: unknown }

export interface LoopOptions {
  runtime?: RuntimeOptions;
  /** After every step; awaited, so a front end can pause the run here. */
  onBatch?: (p: BatchProgress) => void | Promise<void>;
  onEpoch?: (m: EpochMetrics) => void;
  /** A message for a skipped step (reported, never silent). */
  onSkip?: (epoch: number, batch: number, why: string) => void;
  /**
   * The execution provider the training graph's session was created with, after its first step;
   * with `runtime.profile`, also onnxruntime's profile of that step (where each node ran: see
   * placementOf), which onnxruntime-web prints to the console instead (then undefined here).
   */
  onProvider?: (provider: string, profile?: string) => void;
  /** Stops the run before its next step: the loop rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called once the model and data are checked, with a fresh initialisation: returns where to start
   * instead (a resumed run's trees and finished epochs), or nothing to start fresh.
   */
  start?: (fresh: TrainTrees, model: Model) => Promise<{ trees: TrainTrees; history: EpochMetrics[] } | undefined>;
  /** After every epoch's evaluation, before onEpoch (a checkpoint is written here). */
  afterEpoch?: (trees: TrainTrees, history: readonly EpochMetrics[], model: Model) => Promise<void>;
}

export interface TrainResult {
  history: EpochMetrics[];
  params: unknown;
  state: unknown;
  config: TrainConfig;
}

export function makeOptimizer(name: OptimizerName, weightDecay = 0): Optimizer<any> {
  return name === 'adam' ? adam({ weightDecay }) : sgd({ weightDecay });
}

/** cosine: anneal over the whole run; step: the tutorial's ×0.1 at epoch 5 (or half-way in shorter runs). */
export function makeSchedule(c: TrainConfig, stepsPerEpoch: number): Schedule {
  switch (c.schedule) {
    case 'cosine': return cosineLr(c.lr, c.epochs * stepsPerEpoch, c.lr * 1e-3);
    case 'step': return stepLr(c.lr, [Math.min(5, Math.ceil(c.epochs / 2))], 0.1);
    case 'constant': return constantLr(c.lr);
  }
}

/** A fresh generator per epoch, so a resumed run shuffles exactly as an uninterrupted one. */
const epochRng = (seed: number, epoch: number) => new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);

/** Settings that cannot work, each named; the first one found. */
export function validateConfig(c: TrainConfig): E.Either<SettingError, TrainConfig> {
  const posInt = (v: number | undefined) => v === undefined || (Number.isSafeInteger(v) && v > 0);
  const checks: [boolean, SettingName, string][] = [
    [posInt(c.epochs), 'epochs', `the number of epochs must be a positive integer, got ${c.epochs}`],
    [posInt(c.batchSize), 'batchSize', `the batch size must be a positive integer, got ${c.batchSize}`],
    [posInt(c.evalBatchSize), 'evalBatchSize', `the evaluation batch size must be a positive integer, got ${c.evalBatchSize}`],
    [c.lr > 0 && Number.isFinite(c.lr), 'lr', `the learning rate must be a positive number, got ${c.lr}`],
    [Number.isInteger(c.seed) && c.seed >= 0 && c.seed < 2 ** 32, 'seed', `the seed must be an integer from 0 to 2^32 - 1, got ${c.seed}`],
    [c.weightDecay === undefined || (c.weightDecay >= 0 && Number.isFinite(c.weightDecay)), 'weightDecay', `weight decay must be 0 or positive, got ${c.weightDecay}`],
    // a negative bound would flip the gradient's sign: gradient ascent
    [c.clipNorm === undefined || (c.clipNorm > 0 && Number.isFinite(c.clipNorm)), 'clipNorm', `the gradient clipping norm must be positive (leave it unset for no clipping), got ${c.clipNorm}`],
    [c.augment === undefined || (Number.isSafeInteger(c.augment) && c.augment >= 0), 'augment', `the augmentation shift must be 0 or a positive integer, got ${c.augment}`],
    [posInt(c.trainLimit), 'trainLimit', `the training sample limit must be a positive integer, got ${c.trainLimit}`],
    [posInt(c.testLimit), 'testLimit', `the test sample limit must be a positive integer, got ${c.testLimit}`],
  ];
  const bad = checks.find(([ok]) => !ok);
  return bad ? E.left(new SettingError([bad[1]], bad[2])) : E.right(c);
}

const limit = (ds: Dataset, n?: number): Dataset => (n === undefined ? ds : take(ds, n));

/** The model a configuration trains on data of this shape. */
export function modelFor(config: TrainConfig, data: DataSplit): Model {
  const [, c, h] = data.train.images.shape as [number, number, number, number];
  return makeModel(config.model, config.deq, { channels: c, size: h });
}

/** Train for config.epochs (from where `start` says); the config must have passed validateConfig. */
export async function trainEpochs(config: TrainConfig, data: DataSplit, opts: LoopOptions = {}): Promise<TrainResult> {
  const model = modelFor(config, data);
  const optimizer = makeOptimizer(config.optimizer, config.weightDecay);
  const trainer = makeTrainer(model, optimizer, opts.runtime, { clipNorm: config.clipNorm });
  const train = limit(data.train, config.trainLimit);
  const test = limit(data.test, config.testLimit);
  if (sizeOfDataset(train) < config.batchSize) {
    throw new SettingError(['batchSize', 'trainLimit'], `batch size ${config.batchSize} is larger than the ${sizeOfDataset(train)} training samples; use a smaller batch size`);
  }
  if (sizeOfDataset(test) === 0) throw new SettingError(['dataSpec'], `the test set of ${data.source} is empty; evaluation needs test images`);
  const stepsPerEpoch = batchCount(train, config.batchSize, true);
  const schedule = makeSchedule(config, stepsPerEpoch);

  const fresh = model.init(new Rng(config.seed));
  let trees: TrainTrees = { ...fresh, optState: optimizer.init(fresh.params) };
  let history: EpochMetrics[] = [];
  const started = await opts.start?.(trees, model);
  if (started) ({ trees, history } = started);
  let { params, state, optState } = trees;

  const evalBatch = config.evalBatchSize ?? (config.model === 'conv' ? config.batchSize : Math.max(config.batchSize, 500));
  let providerShown = false;
  try {
    for (let epoch = history.length; epoch < config.epochs; epoch++) {
      const t0 = performance.now();
      let lossSum = 0, errSum = 0, seen = 0, fwdSum = 0, bwdSum = 0, fwdN = 0, bwdN = 0, skipped = 0, unconverged = 0, b = 0;
      let lr = schedule(epoch * stepsPerEpoch, epoch);
      const shiftRng = epochRng(config.seed + 7919, epoch);
      for (const batch of batches(train, config.batchSize, { rng: epochRng(config.seed, epoch), dropLast: true })) {
        opts.signal?.throwIfAborted();
        const { y } = batch;
        const x = randomShift(batch.x, shiftRng, config.augment ?? 0);
        lr = schedule(epoch * stepsPerEpoch + b, epoch);
        const s0 = performance.now();
        const r = await trainer.step(params, state, optState, x, y, lr);
        const seconds = (performance.now() - s0) / 1000;
        if (!providerShown) {
          providerShown = true;
          const { session } = await trainer.trainGraph.compile(params, state, x, y);
          // a profiled run (runtime.profile) records its first step only, then runs unprofiled
          const profile = opts.runtime?.profile ? await session.endProfiling() : undefined;
          opts.onProvider?.(session.provider, profile);
        }
        ({ params, state, optState } = r);
        const rep = r.report;
        const n = y.shape[0]!;
        if (rep.skipped) {
          skipped++;
          opts.onSkip?.(epoch, b, rep.skipped);
        } else {
          lossSum += rep.loss * n;
          errSum += rep.errors;
          seen += n;
        }
        if (rep.forward) { fwdSum += rep.forward.iterations; fwdN++; if (!rep.forward.converged) unconverged++; }
        if (rep.backward) { bwdSum += rep.backward.iterations; bwdN++; }
        b++;
        await opts.onBatch?.({ epoch, batch: b, batches: stepsPerEpoch, loss: seen ? lossSum / seen : NaN, report: rep, samples: n, seconds, params, state });
      }
      const ev = await evaluate(trainer, params, state, test, evalBatch);
      const m: EpochMetrics = {
        epoch: epoch + 1, lr,
        trainError: seen ? errSum / seen : NaN, trainLoss: seen ? lossSum / seen : NaN,
        forwardIters: fwdN ? fwdSum / fwdN : 0, backwardIters: bwdN ? bwdSum / bwdN : 0,
        testError: ev.error, testLoss: ev.loss, testForwardIters: ev.forwardIters,
        seconds: (performance.now() - t0) / 1000, steps: b, skipped, unconverged,
      };
      history.push(m);
      await opts.afterEpoch?.({ params, state, optState }, history, model);
      opts.onEpoch?.(m);
    }
  } finally {
    await trainer.release();
  }
  return { history, params, state, config };
}

async function evaluate(trainer: Trainer, params: unknown, state: unknown, test: Dataset, batchSize: number) {
  let loss = 0, errors = 0, n = 0, fwd = 0, solves = 0;
  for (const { x, y } of batches(test, batchSize)) {
    const r = await trainer.evaluate(params, state, x, y);
    const k = y.shape[0]!;
    loss += r.loss * k;
    errors += r.errors;
    n += k;
    if (r.forward) { fwd += r.forward.iterations; solves++; }
  }
  return { loss: loss / n, error: errors / n, forwardIters: solves ? fwd / solves : 0 };
}
