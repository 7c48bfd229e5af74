/** `deq train`: train a model on MNIST-format data, with a checkpoint per epoch. */
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import { type BackwardMode, type FixedPointOptions, SOLVE_DEFAULTS, type SolverName } from '../solvers/index.js';
import { deqPresets, modelNames, type ModelName, stripUndefined } from '../nn/models.js';
import { loadData } from '../train/data.js';
import { type OptimizerName, type ScheduleName, type TrainConfig, trainRun, validateConfig, CHECKPOINT_FILE } from '../train/run.js';
import { prepareRunDir } from '../train/rundir.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { cellDeqPreset, type CellInputNames } from '../nn/onnxCell.js';
import { checkCellOut, describeCell, describeCellModel, readCellFile, TRAINED_CELL_FILE, writeTrainedCell } from './cell.js';
import type { CellFile } from '../train/cellSource.js';
import { TRAIN_DEFAULTS } from '../train/settings.js';
import { type CommandSpec, type Parsed } from './args.js';
import { flagError } from './errors.js';
import { epochLine, metricsTable, progressBar } from './format.js';
import type { CliIo } from './io.js';

/** Without a terminal, a progress line at most this often. */
const PLAIN_PROGRESS_MS = 15_000;
let lastPlain = performance.now();

/** Training and plotting both cap solves here: the residual trace and Anderson's history grow with it. */
export const MAX_ITER_LIMIT = 1000;
/** The unrolled gradient copies the whole solve into the graph once per iteration. */
export const UNROLLED_MAX_ITER = 100;
/** The forward solvers the commands that solve (train, eval, plot) take with --solver. */
export const FORWARD_SOLVERS: readonly string[] = ['forward', 'anderson', 'broyden', 'newton', 'newtonKrylov'];
const cores = availableParallelism();
/** Threads by default: every core for conv, whose kernels are big enough to split; one for the MLPs. */
export const defaultThreads = (model: string): number => (model === 'conv' ? cores : 1);

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Train a Deep Equilibrium Model on MNIST digits (a checkpoint and metrics.json are written to --out after every epoch).',
  usage: 'deq train [options]',
  flags: [
    { name: 'model', kind: 'string', choices: modelNames, default: 'mlp', help: 'mlp: Linear → DEQ(tanh cell) → Linear; mlp-newton: the same solved by Newton; conv: Conv → BatchNorm → DEQ(ResNet cell) → BatchNorm → AvgPool → Linear' },
    { name: 'cell', kind: 'string', value: 'FILE', help: 'train a DEQ whose cell f(z, x) is the graph in this .onnx file (instead of --model): the injection (Linear, or Conv for image-shaped x) and the head fit its declared shapes, and every float initializer of the file is trained' },
    { name: 'cell-inputs', kind: 'string', value: 'Z,X', help: "the names of the cell file's inputs that are z and x (default: the inputs named z and x, else the first and the second)" },
    { name: 'cell-out', kind: 'string', value: 'FILE', help: `where the trained cell is written after training, as .onnx with the source file's names, opset, graph and dynamic axes (default: --out's ${TRAINED_CELL_FILE})` },
    { name: 'solver', kind: 'string', choices: FORWARD_SOLVERS, help: 'forward solver (default: anderson; newton for mlp-newton; newtonKrylov solves each Newton step by GMRES on JVPs, much cheaper than the dense Jacobian)' },
    { name: 'backward', kind: 'string', choices: ['implicit', 'phantom', 'jfb', 'unrolled'], default: 'implicit', help: `gradient: implicit function theorem, phantom (last k damped steps), Jacobian-free, or backprop through the iterations (unrolled: --max-iter at most ${UNROLLED_MAX_ITER})` },
    { name: 'phantom-steps', kind: 'int', min: 1, max: 100, value: 'N', default: '5', help: 'steps unrolled by --backward phantom' },
    { name: 'tol', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'X', help: 'relative residual at which a solve stops (default: 1e-4; conv 1e-2)' },
    { name: 'max-iter', kind: 'int', min: 1, max: MAX_ITER_LIMIT, value: 'N', help: 'iteration limit of a solve (default: 50; mlp-newton 40; conv 25)' },
    { name: 'epochs', kind: 'int', min: 1, max: 10_000, value: 'N', default: String(TRAIN_DEFAULTS.epochs), help: 'training epochs' },
    { name: 'batch', kind: 'int', min: 1, max: 2048, value: 'N', default: String(TRAIN_DEFAULTS.batch), help: 'batch size' },
    { name: 'optimizer', kind: 'string', choices: ['sgd', 'adam'], default: TRAIN_DEFAULTS.optimizer, help: 'optimizer' },
    { name: 'schedule', kind: 'string', choices: ['cosine', 'step', 'constant'], default: TRAIN_DEFAULTS.schedule, help: "learning-rate schedule; step is the tutorial's ×0.1 at epoch 5" },
    { name: 'lr', kind: 'number', min: 0, minExclusive: true, max: 10, value: 'X', help: 'learning rate (default: 0.004 for adam, 0.1 for sgd)' },
    { name: 'augment', kind: 'int', min: 0, max: 8, value: 'N', default: String(TRAIN_DEFAULTS.augment), help: 'shift training images by up to N pixels at random (0: off)' },
    { name: 'weight-decay', kind: 'number', min: 0, max: 1, value: 'X', default: '0', help: 'weight decay (decoupled for adam)' },
    { name: 'clip-norm', kind: 'number', min: 0, max: 1e6, value: 'X', help: 'clip the global gradient norm to X; 0 turns clipping off (default: 2 for adam, none for sgd)' },
    { name: 'data', kind: 'string', value: 'mnist|DIR', default: 'mnist', help: 'mnist: the bundled 10,000 digits split 8,000/2,000; or a folder with MNIST-format idx files (train-images-idx3-ubyte[.gz], …)' },
    { name: 'validation', kind: 'int', min: 0, max: 10_000_000, value: 'N', help: 'training samples held out (fixed seed) for the per-epoch validation error (default: 1000, or an eighth of a smaller set; 0: none); the test set is evaluated once, at the end' },
    { name: 'train-limit', kind: 'int', min: 1, max: 10_000_000, value: 'N', help: 'use only the first N training samples' },
    { name: 'test-limit', kind: 'int', min: 1, max: 10_000_000, value: 'N', help: 'use only the first N test samples' },
    { name: 'runtime', kind: 'string', choices: ['node', 'web'], default: 'node', help: 'onnxruntime-node or onnxruntime-web (wasm)' },
    { name: 'ep', kind: 'string', choices: ['cpu', 'cuda', 'webgpu'], default: 'cpu', help: 'execution provider (falls back to cpu when it cannot load; the provider used is printed)' },
    { name: 'threads', kind: 'int', min: 1, max: 4 * cores, value: 'N', help: `onnxruntime intra-op threads, at most 4 per core of the ${cores} here (default: 1 for the MLPs, whose kernels are too small to split; every core for conv)` },
    { name: 'jac-reg', kind: 'number', min: 0, max: 100, value: 'λ', help: 'add λ·‖∂f/∂z‖²_F per element of z* (Hutchinson estimate at the fixed point) to the loss, keeping the cell contractive (default: 0, off)' },
    { name: 'jac-reg-freq', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'P', default: '1', help: 'share of steps that add the Jacobian term, chosen by a seeded draw per step (the others skip its cost)' },
    { name: 'jac-reg-samples', kind: 'int', min: 1, max: 64, value: 'N', default: '1', help: 'Rademacher probe vectors per Jacobian estimate' },
    { name: 'weight-norm', kind: 'bool', help: 'weight normalisation of the DEQ cell\'s weights: w = g·v/‖v‖ per output unit, gains trained' },
    { name: 'spectral-norm', kind: 'bool', help: 'spectral normalisation of the DEQ cell\'s weights: W·scale/σ̂, σ̂ by one power iteration per step (its vectors kept in the checkpoint)' },
    { name: 'spectral-scale', kind: 'number', min: 0, minExclusive: true, max: 10, value: 'X', default: '1', help: 'spectral norm of each normalised weight with --spectral-norm (below 1 makes the tanh cell a contraction)' },
    { name: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, value: 'N', default: String(TRAIN_DEFAULTS.seed), help: 'seed for initialisation and shuffling' },
    { name: 'out', kind: 'string', value: 'DIR', default: TRAIN_DEFAULTS.out, help: `folder for ${CHECKPOINT_FILE} and metrics.json, created and test-written before training` },
    { name: 'resume', kind: 'bool', help: 'continue from the checkpoint in --out' },
    { name: 'overwrite', kind: 'bool', help: 'replace the checkpoint in --out with a new run (without --resume or this, a folder holding a checkpoint is refused)' },
  ],
  examples: [
    'deq train',
    'deq train --solver forward --backward jfb --epochs 5',
    'deq train --model conv --epochs 2 --batch 50 --out conv-run',
    "deq train --optimizer sgd --schedule step --epochs 10 --augment 0   # the tutorial's recipe",
    'deq train --data /usr/share/datasets/fashion-mnist --epochs 3',
    'deq train --out deq-run --resume --epochs 20',
    'deq train --cell my-cell.onnx --epochs 3 --out cell-run   # a cell from PyTorch; trained cell → cell-run/trained-cell.onnx',
    'deq train --cell my-cell.onnx --cell-inputs h,u --cell-out trained.onnx',
    'deq train --jac-reg 1 --jac-reg-freq 0.5 --out jac-run',
    'deq train --spectral-norm --spectral-scale 0.9 --out sn-run',
  ],
};

interface CellFlags { file: string; inputs?: CellInputNames; out?: string }
interface TrainSetup { config: TrainConfig; runtime: RuntimeOptions; data: string; out: string; resume: boolean; overwrite: boolean; cell?: CellFlags }

/** --cell, --cell-inputs and --cell-out, checked together. */
function cellFlags(f: Parsed): E.Either<string, CellFlags | undefined> {
  const file = f.cell as string | undefined;
  if (file === undefined) {
    const stray = ['cell-inputs', 'cell-out'].find((k) => f[k] !== undefined);
    return stray ? E.left(`--${stray} only applies with --cell FILE`) : E.right(undefined);
  }
  if (f.model !== undefined) return E.left('--cell and --model exclude each other: --cell FILE trains a DEQ on the cell in FILE; drop one');
  let inputs: CellInputNames | undefined;
  const names = f['cell-inputs'] as string | undefined;
  if (names !== undefined) {
    const parts = names.split(',').map((n) => n.trim());
    if (parts.length !== 2 || parts.some((n) => n === '')) return E.left(`--cell-inputs takes two input names, z's then x's, separated by a comma (e.g. --cell-inputs z,x); got '${names}'`);
    if (parts[0] === parts[1]) return E.left(`--cell-inputs names ${parts[0]} for both z and x; z and x are two different inputs`);
    inputs = { z: parts[0]!, x: parts[1]! };
  }
  return E.right({ file, inputs, out: f['cell-out'] as string | undefined });
}

/** Flags → a training configuration and runtime options; every setting is checked here, before anything loads. */
export function trainConfigFromFlags(f: Parsed): E.Either<InputError, TrainSetup> {
  const fail = (msg: string) => E.left(new InputError(`deq train: ${msg}`));
  const cellFlag = cellFlags(f);
  if (E.isLeft(cellFlag)) return fail(cellFlag.left);
  const cell = cellFlag.right;
  const model: ModelName | 'cell' = cell ? 'cell' : (f.model as ModelName | undefined) ?? TRAIN_DEFAULTS.model;
  const preset: FixedPointOptions = model === 'cell' ? {} : deqPresets[model];
  const optimizer = (f.optimizer as OptimizerName | undefined) ?? TRAIN_DEFAULTS.optimizer;
  const backwardFlag = (f.backward as string | undefined) ?? 'implicit';
  const phantomSteps = (f['phantom-steps'] as number | undefined) ?? 5;
  if (f['phantom-steps'] !== undefined && backwardFlag !== 'phantom') return fail('--phantom-steps only applies with --backward phantom; add --backward phantom');
  const backward: BackwardMode = backwardFlag === 'phantom' ? { phantom: phantomSteps } : (backwardFlag as BackwardMode);
  const deq: FixedPointOptions = {
    solver: f.solver as SolverName | undefined,
    tol: f.tol as number | undefined,
    maxIter: f['max-iter'] as number | undefined,
    backward,
  };
  const maxIter = deq.maxIter ?? preset.maxIter ?? SOLVE_DEFAULTS.maxIter;
  if (backward === 'unrolled' && maxIter > UNROLLED_MAX_ITER) {
    return fail(`--backward unrolled copies the solve into the graph once per iteration: --max-iter must be at most ${UNROLLED_MAX_ITER}, got ${maxIter}`);
  }
  if (f.resume === true && f.overwrite === true) return fail('--resume and --overwrite exclude each other; choose one');
  if (f['weight-norm'] === true && f['spectral-norm'] === true) return fail('--weight-norm and --spectral-norm exclude each other; choose one');
  if (f['spectral-scale'] !== undefined && f['spectral-norm'] !== true) return fail('--spectral-scale only applies with --spectral-norm; add --spectral-norm');
  if ((f['jac-reg-freq'] !== undefined || f['jac-reg-samples'] !== undefined) && !((f['jac-reg'] as number | undefined) ?? 0)) {
    return fail(`--${f['jac-reg-freq'] !== undefined ? 'jac-reg-freq' : 'jac-reg-samples'} only applies with --jac-reg above 0; add --jac-reg λ`);
  }
  const ep = (f.ep as string | undefined) ?? 'cpu';
  const runtimeName = (f.runtime as 'node' | 'web' | undefined) ?? 'node';
  const cpu = runtimeName === 'web' ? 'wasm' : 'cpu';
  const runtime: RuntimeOptions = {
    runtime: runtimeName,
    executionProviders: ep === 'cpu' ? [cpu] : [ep, cpu],
    intraOpNumThreads: (f.threads as number | undefined) ?? defaultThreads(model),
  };
  const config: TrainConfig = {
    model,
    deq,
    optimizer,
    schedule: (f.schedule as ScheduleName | undefined) ?? TRAIN_DEFAULTS.schedule,
    lr: (f.lr as number | undefined) ?? TRAIN_DEFAULTS.lr[optimizer],
    weightDecay: (f['weight-decay'] as number | undefined) ?? 0,
    clipNorm: f['clip-norm'] === 0 ? undefined : (f['clip-norm'] as number | undefined) ?? TRAIN_DEFAULTS.clipNorm[optimizer],
    augment: (f.augment as number | undefined) ?? TRAIN_DEFAULTS.augment,
    epochs: (f.epochs as number | undefined) ?? TRAIN_DEFAULTS.epochs,
    batchSize: (f.batch as number | undefined) ?? TRAIN_DEFAULTS.batch,
    seed: (f.seed as number | undefined) ?? TRAIN_DEFAULTS.seed,
    validation: f.validation as number | undefined,
    trainLimit: f['train-limit'] as number | undefined,
    testLimit: f['test-limit'] as number | undefined,
    ...((f['jac-reg'] as number | undefined) ? {
      jacReg: f['jac-reg'] as number,
      ...(f['jac-reg-freq'] !== undefined ? { jacRegFreq: f['jac-reg-freq'] as number } : {}),
      ...(f['jac-reg-samples'] !== undefined ? { jacRegSamples: f['jac-reg-samples'] as number } : {}),
    } : {}),
    ...(f['weight-norm'] === true ? { normalize: 'weight' as const } : {}),
    ...(f['spectral-norm'] === true ? { normalize: 'spectral' as const, ...(f['spectral-scale'] !== undefined ? { spectralScale: f['spectral-scale'] as number } : {}) } : {}),
  };
  const checked = validateConfig(config);
  if (E.isLeft(checked)) return fail(flagError(checked.left));
  return E.right({ config, runtime, data: (f.data as string | undefined) ?? 'mnist', out: (f.out as string | undefined) ?? TRAIN_DEFAULTS.out, resume: f.resume === true, overwrite: f.overwrite === true, cell });
}

const describeDeq = (preset: FixedPointOptions, deq: FixedPointOptions): string => {
  const d: FixedPointOptions = { ...preset, ...stripUndefined(deq) };
  const bw = typeof d.backward === 'object' ? `phantom(${d.backward.phantom})` : d.backward;
  return `solver ${d.solver} (tol ${d.tol}, max ${d.maxIter} iterations), backward ${bw}`;
};

const describeRegularisation = (c: TrainConfig): string =>
  (c.normalize === 'weight' ? ', weight-normalised cell' : c.normalize === 'spectral' ? `, spectrally normalised cell (scale ${c.spectralScale ?? 1})` : '') +
  (c.jacReg ? `, Jacobian term λ ${c.jacReg}${c.jacRegFreq !== undefined && c.jacRegFreq < 1 ? ` on ${c.jacRegFreq * 100}% of steps` : ''}${(c.jacRegSamples ?? 1) > 1 ? `, ${c.jacRegSamples} probes` : ''}` : '');

export async function trainCommand(flags: Parsed, io: CliIo): Promise<number> {
  const parsed = trainConfigFromFlags(flags);
  if (E.isLeft(parsed)) { io.err(parsed.left.message); return 2; }
  const { config, runtime, data: dataSpec, out, resume, overwrite } = parsed.right;
  const t0 = performance.now();
  let cell: CellFile | undefined;
  let cellOut: string | undefined;
  if (parsed.right.cell) {
    const c = await readCellFile(parsed.right.cell.file, parsed.right.cell.inputs);
    if (E.isLeft(c)) { io.err(`deq train: ${c.left}`); return 2; }
    cell = c.right;
    config.cell = cell.source;
    const target = checkCellOut(parsed.right.cell.out ?? join(out, TRAINED_CELL_FILE), cell.source.file);
    if (E.isLeft(target)) { io.err(`deq train: ${target.left}`); return 2; }
    cellOut = target.right;
    // image-shaped cells have kernels big enough to split, as the conv model's
    if (flags.threads === undefined && cell.cell.z.shape.length === 4) runtime.intraOpNumThreads = cores;
  }
  // the folder is made and test-written before anything loads, so no epoch is lost to it
  const dir = prepareRunDir(out, { resume, overwrite });
  if (E.isLeft(dir)) { io.err(`deq train: ${flagError(dir.left)}`); return 2; }
  const data = loadData(dataSpec);
  if (E.isLeft(data)) { io.err(`deq train: ${flagError(data.left)}`); return 2; }
  const d = data.right;
  io.out(`data: ${d.source}: ${d.train.labels.shape[0]} train / ${d.test.labels.shape[0]} test images`);
  const solve = config.deq === false ? 'explicit layer' : describeDeq(cell ? cellDeqPreset(cell.cell) : deqPresets[config.model as ModelName], config.deq);
  if (cell) {
    const [, channels, size] = d.train.images.shape as [number, number, number, number];
    let layers: string;
    try {
      layers = describeCellModel(cell, { channels, size });
    } catch (e) {
      if (e instanceof InputError) { io.err(`deq train: ${e.message} (--cell)`); return 2; }
      throw e;
    }
    io.out(describeCell(cell));
    io.out(`model: ${layers}, ${solve}${describeRegularisation(config)}`);
  } else io.out(`model: ${config.model}, ${solve}${describeRegularisation(config)}`);
  io.out(`training: ${config.optimizer} lr ${config.lr} (${config.schedule}${config.clipNorm ? `, clip ${config.clipNorm}` : ''}), ${config.epochs} epochs of batch ${config.batchSize}, seed ${config.seed}, onnxruntime-${runtime.runtime} [${runtime.executionProviders!.join(', ')}] → ${out}`);
  const result = await trainRun({ ...config, dataSpec } as TrainConfig, d, {
    outDir: out,
    resume,
    overwrite,
    runtime,
    onSplit: (n) => io.out(n.validation
      ? `validation: ${n.validation} training images held out (fixed seed); training on ${n.train}`
      : `validation: none (--validation 0); training on ${n.train}`),
    onResume: (epoch) => io.out(`resuming from ${out}/${CHECKPOINT_FILE} after epoch ${epoch}`),
    onProvider: (provider) => {
      const wanted = runtime.executionProviders![0]!;
      io.out(`execution provider: ${provider}${provider === wanted ? '' : ` (${wanted} could not load; fell back)`}`);
    },
    onBatch: (p) => {
      if (io.isTTY) io.status(progressBar(p.epoch + 1, config.epochs, p.batch, p.batches, p.loss));
      else if (performance.now() - lastPlain > PLAIN_PROGRESS_MS) {
        // logs and pipes get a plain line now and then instead of a redrawn bar
        lastPlain = performance.now();
        io.out(`epoch ${p.epoch + 1}/${config.epochs}: batch ${p.batch}/${p.batches}, loss ${p.loss.toFixed(4)}`);
      }
    },
    onSkip: (epoch, batch, why) => io.err(`epoch ${epoch + 1} batch ${batch + 1}: skipped the update (${why}); params unchanged`),
    onEpoch: (m) => io.out(epochLine(m, config.epochs)),
    cellFile: cell,
  })();
  if (E.isLeft(result)) { io.err(`deq train: ${flagError(result.left)}`); return result.left instanceof InputError ? 2 : 1; }
  const h = result.right.history;
  io.out('');
  io.out(metricsTable(h));
  const last = h[h.length - 1];
  const val = last && !Number.isNaN(last.valError) ? ` · validation error ${(last.valError * 100).toFixed(2)}%` : '';
  const test = result.right.test;
  io.out(`\nfinal test error ${(test.error * 100).toFixed(2)}% on ${test.samples} test images (evaluated once, after the last epoch)${val} · ${((performance.now() - t0) / 1000).toFixed(1)} s in all · checkpoint ${out}/${CHECKPOINT_FILE}`);
  if (cell && cellOut) io.out(await writeTrainedCell(cell, (result.right.params as { cell: unknown }).cell, cellOut));
  return 0;
}
