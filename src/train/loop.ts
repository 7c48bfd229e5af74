/**
 * The epoch loop of a training run, with nothing that needs a file system: a validation set held
 * out of the training data, seeded shuffled batches (and random shifts, Jacobian probes) through the
 * compiled step, evaluation after every epoch, the test set once at the end. The Node run (run.ts)
 * adds its output folder through the `start` and `afterEpoch` hooks; a browser page runs the same
 * loop, so the same seed gives it the same batches and steps.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Rng } from '../core/random.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import { jacobianNoise } from '../solvers/index.js';
import type { Tensor } from '../core/tensor.js';
import type { Model } from '../nn/models.js';
import { normalizationNames, type ModelSettings } from './settings.js';
import { SettingError, type SettingName } from './errors.js';
import { batchCount, batches, type DataSplit, type Dataset, defaultValidationSize, holdOut, randomShift, sizeOfDataset, take } from './dataset.js';
import { adam, constantLr, cosineLr, type Optimizer, type Schedule, sgd, stepLr } from './optim.js';
import { makeTrainer, type StepReport, type Trainer } from './step.js';

export type OptimizerName = 'adam' | 'sgd';
export type ScheduleName = 'cosine' | 'step' | 'constant';

export interface TrainConfig extends ModelSettings {
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
  /** Training samples held out for validation, by a fixed seed (default: defaultValidationSize; 0: none). */
  validation?: number;
  /** Limit the training set (what is left after the validation set) to its first n samples (quick runs). */
  trainLimit?: number;
  /** Limit the test set to its first n samples. */
  testLimit?: number;
  /** How the data was named (`mnist` or a folder), kept in the checkpoint so tools can reload it. */
  dataSpec?: string;
  /** λ of the Jacobian term λ · ‖∂f/∂z‖²_F / N added to the loss (default 0: none). */
  jacReg?: number;
  /** The share of steps that add the Jacobian term, chosen by a seeded draw per step (default 1). */
  jacRegFreq?: number;
  /** Probe vectors per Jacobian estimate (default 1). */
  jacRegSamples?: number;
}

export interface EpochMetrics {
  epoch: number;
  lr: number;
  trainError: number;
  trainLoss: number;
  forwardIters: number;
  backwardIters: number;
  /** On the validation set (NaN without one). */
  valError: number;
  valLoss: number;
  valForwardIters: number;
  seconds: number;
  steps: number;
  skipped: number;
  unconverged: number;
  /** Mean Jacobian penalty over the epoch's steps that applied it (only with jacReg; NaN when none did). */
  jacPenalty?: number;
  /** How many of the epoch's steps applied the Jacobian term (only with jacReg). */
  jacSteps?: number;
  /** Test error after this epoch: only with LoopOptions.testEachEpoch (benchmarks of time to accuracy). */
  testError?: number;
}

/** Error, loss and mean forward-solve iterations over a data set. */
export interface Evaluation { error: number; loss: number; forwardIters: number; samples: number }

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
  /**
   * Also evaluate the test set after every epoch (EpochMetrics.testError): for benchmarks that
   * time how long training takes to reach a test error. Settings are never chosen on it, and the
   * run's own report still gives the test error once, at the end.
   */
  testEachEpoch?: boolean;
  /** The sizes of the training, validation and test sets, once the validation set is held out. */
  onSplit?: (sizes: { train: number; validation: number; test: number }) => void;
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
   * Called once the data are checked, with a fresh initialisation: returns where to start instead
   * (a resumed run's trees and finished epochs), or nothing to start fresh.
   */
  start?: (fresh: TrainTrees) => Promise<{ trees: TrainTrees; history: EpochMetrics[] } | undefined>;
  /** After every epoch's evaluation, before onEpoch (a checkpoint is written here). */
  afterEpoch?: (trees: TrainTrees, history: readonly EpochMetrics[]) => Promise<void>;
}

export interface TrainResult {
  history: EpochMetrics[];
  /** The test set, evaluated once with the final parameters. */
  test: Evaluation;
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

/**
 * The generator of one step's Jacobian draw (whether the step applies the term, then its probes),
 * a function of (seed, epoch, step) alone, so a resumed run draws exactly what an uninterrupted one does.
 */
export const jacobianStepRng = (seed: number, epoch: number, step: number) =>
  new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35) ^ 0x5bd1e995) >>> 0);

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
    [c.validation === undefined || (Number.isSafeInteger(c.validation) && c.validation >= 0), 'validation', `the validation set's size must be 0 or a positive integer, got ${c.validation}`],
    [posInt(c.trainLimit), 'trainLimit', `the training sample limit must be a positive integer, got ${c.trainLimit}`],
    [posInt(c.testLimit), 'testLimit', `the test sample limit must be a positive integer, got ${c.testLimit}`],
    [c.cell === undefined || c.model === 'cell', 'cell', `a cell source is given but the model is ${c.model}; set the model to 'cell'`],
    [c.jacReg === undefined || (c.jacReg >= 0 && Number.isFinite(c.jacReg)), 'jacReg', `the Jacobian regularisation weight must be 0 or positive, got ${c.jacReg}`],
    [c.jacRegFreq === undefined || (c.jacRegFreq > 0 && c.jacRegFreq <= 1), 'jacRegFreq', `the share of steps with the Jacobian term must be above 0 and at most 1, got ${c.jacRegFreq}`],
    [c.jacRegFreq === undefined || (c.jacReg ?? 0) > 0, 'jacRegFreq', 'a share of steps with the Jacobian term needs a Jacobian weight above 0'],
    [posInt(c.jacRegSamples), 'jacRegSamples', `the Jacobian probes per step must be a positive integer, got ${c.jacRegSamples}`],
    [!(c.jacReg && c.deq === false), 'jacReg', 'Jacobian regularisation needs a DEQ layer; an explicit layer has no fixed point'],
    [c.normalize === undefined || normalizationNames.includes(c.normalize), 'normalize', `the normalisation must be one of ${normalizationNames.join(', ')}, got ${JSON.stringify(c.normalize)}`],
    [c.spectralScale === undefined || (c.spectralScale > 0 && Number.isFinite(c.spectralScale)), 'spectralScale', `the spectral scale must be a positive number, got ${c.spectralScale}`],
    [c.spectralScale === undefined || c.normalize === 'spectral', 'spectralScale', 'a spectral scale needs spectral normalisation'],
  ];
  const bad = checks.find(([ok]) => !ok);
  return bad ? E.left(new SettingError([bad[1]], bad[2])) : E.right(c);
}

const limit = (ds: Dataset, n?: number): Dataset => (n === undefined ? ds : take(ds, n));

/**
 * Train `model` (the one the config describes: run.ts builds it with buildModel) for config.epochs,
 * from where `start` says; the config must have passed validateConfig. The test set is evaluated
 * once, after the last epoch.
 */
/** How many of `trainSize` training samples the run holds out for validation. */
export const validationSizeOf = (config: TrainConfig, trainSize: number): number => config.validation ?? defaultValidationSize(trainSize);

/** The evaluation batch: the config's, else the training batch for the conv-sized models, else at least 500. */
export const evalBatchOf = (config: TrainConfig): number =>
  config.evalBatchSize ?? (config.model === 'conv' || config.model === 'cell' ? config.batchSize : Math.max(config.batchSize, 500));

export async function trainEpochs(config: TrainConfig, data: DataSplit, model: Model, opts: LoopOptions = {}): Promise<TrainResult> {
  const optimizer = makeOptimizer(config.optimizer, config.weightDecay);
  const jacReg = config.jacReg ?? 0;
  const trainer = makeTrainer(model, optimizer, opts.runtime, { clipNorm: config.clipNorm, jacobianWeight: jacReg });
  const all = sizeOfDataset(data.train);
  const valSize = validationSizeOf(config, all);
  if (valSize >= all) throw new SettingError(['validation'], `a validation set of ${valSize} leaves none of the ${all} training samples to train on; hold out fewer`);
  const split = holdOut(data.train, valSize);
  const train = limit(split.train, config.trainLimit);
  const validation = split.validation;
  const testSet = limit(data.test, config.testLimit);
  if (sizeOfDataset(train) < config.batchSize) {
    const held = valSize ? ` (${valSize} more are held out for validation)` : '';
    throw new SettingError(['batchSize', 'trainLimit', 'validation'], `batch size ${config.batchSize} is larger than the ${sizeOfDataset(train)} training samples${held}; use a smaller batch size`);
  }
  if (sizeOfDataset(testSet) === 0) throw new SettingError(['dataSpec'], `the test set of ${data.source} is empty; evaluation needs test images`);
  opts.onSplit?.({ train: sizeOfDataset(train), validation: valSize, test: sizeOfDataset(testSet) });
  const stepsPerEpoch = batchCount(train, config.batchSize, true);
  const schedule = makeSchedule(config, stepsPerEpoch);

  const fresh = model.init(new Rng(config.seed));
  let trees: TrainTrees = { ...fresh, optState: optimizer.init(fresh.params) };
  let history: EpochMetrics[] = [];
  const started = await opts.start?.(trees);
  if (started) ({ trees, history } = started);
  let { params, state, optState } = trees;

  let probeShape: number[] | undefined;
  const evalBatch = evalBatchOf(config);
  let providerShown = false;
  try {
    for (let epoch = history.length; epoch < config.epochs; epoch++) {
      const t0 = performance.now();
      let lossSum = 0, errSum = 0, seen = 0, fwdSum = 0, bwdSum = 0, fwdN = 0, bwdN = 0, skipped = 0, unconverged = 0, b = 0, jacSum = 0, jacN = 0;
      let lr = schedule(epoch * stepsPerEpoch, epoch);
      const shiftRng = epochRng(config.seed + 7919, epoch);
      for (const batch of batches(train, config.batchSize, { rng: epochRng(config.seed, epoch), dropLast: true })) {
        opts.signal?.throwIfAborted();
        const { y } = batch;
        const x = randomShift(batch.x, shiftRng, config.augment ?? 0);
        lr = schedule(epoch * stepsPerEpoch + b, epoch);
        let probes: Tensor | undefined;
        if (jacReg > 0) {
          const rng = jacobianStepRng(config.seed, epoch, b);
          if (rng.next() < (config.jacRegFreq ?? 1)) {
            probeShape ??= trainer.equilibriumShape(params, state, x);
            probes = jacobianNoise(rng, probeShape, { samples: config.jacRegSamples ?? 1, dtype: x.dtype });
          }
        }
        const s0 = performance.now();
        const r = await trainer.step(params, state, optState, x, y, lr, probes);
        const seconds = (performance.now() - s0) / 1000;
        if (!providerShown) {
          providerShown = true;
          // the session of the graph the step ran (compiled already: a cache lookup)
          const { session } = await (probes === undefined ? trainer.trainGraph.compile(params, state, x, y) : trainer.jacobianGraph.compile(params, state, x, y, probes));
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
        if (rep.jacobianPenalty !== null && !rep.skipped) { jacSum += rep.jacobianPenalty; jacN++; }
        b++;
        await opts.onBatch?.({ epoch, batch: b, batches: stepsPerEpoch, loss: seen ? lossSum / seen : NaN, report: rep, samples: n, seconds, params, state });
      }
      const ev = valSize ? await evaluate(trainer, params, state, validation, evalBatch) : { error: NaN, loss: NaN, forwardIters: NaN };
      const m: EpochMetrics = {
        epoch: epoch + 1, lr,
        trainError: seen ? errSum / seen : NaN, trainLoss: seen ? lossSum / seen : NaN,
        forwardIters: fwdN ? fwdSum / fwdN : 0, backwardIters: bwdN ? bwdSum / bwdN : 0,
        valError: ev.error, valLoss: ev.loss, valForwardIters: ev.forwardIters,
        seconds: (performance.now() - t0) / 1000, steps: b, skipped, unconverged,
        ...(jacReg > 0 ? { jacPenalty: jacN ? jacSum / jacN : NaN, jacSteps: jacN } : {}),
        ...(opts.testEachEpoch ? { testError: (await evaluate(trainer, params, state, testSet, evalBatch)).error } : {}),
      };
      history.push(m);
      await opts.afterEpoch?.({ params, state, optState }, history);
      opts.onEpoch?.(m);
    }
    const test = await evaluate(trainer, params, state, testSet, evalBatch);
    return { history, test, params, state, config };
  } finally {
    await trainer.release();
  }
}

async function evaluate(trainer: Trainer, params: unknown, state: unknown, ds: Dataset, batchSize: number): Promise<Evaluation> {
  let loss = 0, errors = 0, n = 0, fwd = 0, solves = 0;
  for (const { x, y } of batches(ds, batchSize)) {
    const r = await trainer.evaluate(params, state, x, y);
    const k = y.shape[0]!;
    loss += r.loss * k;
    errors += r.errors;
    n += k;
    if (r.forward) { fwd += r.forward.iterations; solves++; }
  }
  return { loss: loss / n, error: errors / n, forwardIters: solves ? fwd / solves : 0, samples: n };
}
