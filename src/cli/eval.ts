/**
 * `deq eval`: a trained checkpoint on the test set, with the distribution of its solves per sample
 * (iterations and final relative residual: median, p90, max, share not converged) for the solver
 * and tolerance chosen, the numbers that show which test-time tolerance a model can afford.
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import * as E from 'fp-ts/lib/Either.js';
import { Rng } from '../core/random.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import { deqPresets, modelNames, type ModelName, stripUndefined } from '../nn/models.js';
import { type FixedPointOptions, SOLVE_DEFAULTS, type SolverName } from '../solvers/index.js';
import { treeMismatch } from '../train/checkpoint.js';
import { holdOut, loadData, sizeOfDataset, take } from '../train/data.js';
import { evalBatchOf, validationSizeOf } from '../train/loop.js';
import { CheckpointError } from '../train/errors.js';
import { distribution, inferenceStats, type InferenceStats } from '../train/inference.js';
import { buildModel } from '../train/model.js';
import { loadRun } from '../train/rundir.js';
import { CHECKPOINT_FILE } from '../train/run.js';
import type { CommandSpec, Parsed } from './args.js';
import { flagError } from './errors.js';
import type { CliIo } from './io.js';
import { defaultThreads, FORWARD_SOLVERS, MAX_ITER_LIMIT } from './train.js';

const cores = availableParallelism();

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Run a trained checkpoint on the test set (or its validation set): error and, per sample, the solver\'s iterations and final relative residual (median, p90, max, share not converged).',
  usage: 'deq eval [--out DIR] [options]',
  flags: [
    { name: 'out', kind: 'string', value: 'DIR', default: 'deq-run', help: `folder with ${CHECKPOINT_FILE} (from deq train)` },
    { name: 'solver', kind: 'string', choices: FORWARD_SOLVERS, help: 'forward solver (default: the checkpoint\'s)' },
    { name: 'tol', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'X', help: 'relative residual at which a sample counts as converged and its solve stops (default: the checkpoint\'s)' },
    { name: 'max-iter', kind: 'int', min: 1, max: MAX_ITER_LIMIT, value: 'N', help: 'iteration limit of a solve (default: the checkpoint\'s)' },
    { name: 'batch', kind: 'int', min: 1, max: 10_000, value: 'N', help: 'test samples solved together; per-sample numbers do not depend on it (default: the training run\'s evaluation batch)' },
    { name: 'split', kind: 'string', choices: ['test', 'validation'], default: 'test', help: 'the test set, or the validation samples the run held out of its training data (to choose a tolerance without looking at the test set)' },
    { name: 'limit', kind: 'int', min: 1, max: 10_000_000, value: 'N', help: 'use only the first N samples' },
    { name: 'threads', kind: 'int', min: 1, max: 4 * cores, value: 'N', help: 'onnxruntime intra-op threads (default: 1 for the MLPs, every core for conv)' },
    { name: 'json', kind: 'bool', help: 'print one JSON object (with every sample\'s numbers) instead of the table' },
  ],
  examples: ['deq eval --out deq-run', 'deq eval --out deq-run --tol 1e-3 --solver forward', 'deq eval --out deq-run --json > eval.json'],
};

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : String(v));

export async function evalCommand(f: Parsed, io: CliIo): Promise<number> {
  const out = (f.out as string | undefined) ?? 'deq-run';
  const ckPath = join(out, CHECKPOINT_FILE);
  const run = loadRun(ckPath);
  if (E.isLeft(run)) { io.err(`deq eval: ${flagError(run.left)}${run.left instanceof CheckpointError ? '' : ' (train one with deq train --out DIR, or point --out at its folder)'}`); return 2; }
  const { checkpoint: ck, ...meta } = run.right;
  const config = meta.config;
  if (config.model === 'cell' || !modelNames.includes(config.model)) { io.err(`deq eval: ${flagError(new CheckpointError(ckPath, `unknown model ${JSON.stringify(config.model)}`))}`); return 2; }
  if (config.deq === false) { io.err(`deq eval: ${ckPath} holds a model with an explicit layer in place of the DEQ: it has no solves to report`); return 2; }
  const data = loadData(config.dataSpec ?? 'mnist');
  if (E.isLeft(data)) { io.err(`deq eval: ${flagError(data.left)}`); return 2; }
  const split = (f.split as 'test' | 'validation' | undefined) ?? 'test';
  let set = data.right.test;
  if (split === 'validation') {
    const held = validationSizeOf(config, sizeOfDataset(data.right.train));
    if (held === 0) { io.err(`deq eval: ${ckPath} was trained without a validation set (--validation 0); use --split test`); return 2; }
    set = holdOut(data.right.train, held).validation;
  }
  const test = f.limit !== undefined ? take(set, f.limit as number) : set;
  const [, c, h] = test.images.shape as [number, number, number, number];

  const modelName = config.model as ModelName;
  const trained: FixedPointOptions = { ...deqPresets[modelName], ...stripUndefined(config.deq) };
  const deq: FixedPointOptions = {
    ...trained,
    solver: (f.solver as SolverName | undefined) ?? trained.solver,
    tol: (f.tol as number | undefined) ?? trained.tol ?? SOLVE_DEFAULTS.tol,
    maxIter: (f['max-iter'] as number | undefined) ?? trained.maxIter ?? SOLVE_DEFAULTS.maxIter,
    stopOn: 'rel',
    perSample: true,
  };
  const model = buildModel(config, { channels: c, size: h }, deq);
  const fresh = model.init(new Rng(config.seed));
  const trees = ck.trees as { params?: unknown; state?: unknown };
  for (const key of ['params', 'state'] as const) {
    const why = treeMismatch(trees[key], fresh[key], key);
    if (why) { io.err(`deq eval: ${flagError(new CheckpointError(ckPath, why))}`); return 2; }
  }
  const batch = (f.batch as number | undefined) ?? evalBatchOf(config);
  const runtime: RuntimeOptions = { intraOpNumThreads: (f.threads as number | undefined) ?? defaultThreads(modelName) };
  const stats = await inferenceStats(model, trees.params, trees.state, test, batch, deq.tol!, runtime);
  const report = evalReport(stats, { checkpoint: ckPath, model: modelName, epochs: meta.history.length, data: data.right.source, split, solver: String(deq.solver), tol: deq.tol!, maxIter: deq.maxIter!, batch });
  if (f.json === true) io.out(JSON.stringify(report));
  else io.out(evalText(report));
  return 0;
}

export interface EvalReport {
  checkpoint: string;
  model: string;
  epochs: number;
  data: string;
  split: 'test' | 'validation';
  solver: string;
  tol: number;
  maxIter: number;
  batch: number;
  samples: number;
  /** On the split evaluated (the test set unless --split validation). */
  error: number;
  loss: number;
  batchIterations: number;
  iterations: ReturnType<typeof distribution>;
  relResidual: ReturnType<typeof distribution>;
  notConverged: number;
  notConvergedShare: number;
  perSample: { iterations: number[]; relResidual: number[] };
}

type Setting = Pick<EvalReport, 'checkpoint' | 'model' | 'epochs' | 'data' | 'split' | 'solver' | 'tol' | 'maxIter' | 'batch'>;

export const evalReport = (s: InferenceStats, setting: Setting): EvalReport => ({
  ...setting,
  samples: s.samples,
  error: s.error,
  loss: s.loss,
  batchIterations: s.batchIterations,
  iterations: distribution(s.iterations),
  relResidual: distribution(s.relResidual),
  notConverged: s.notConverged,
  notConvergedShare: s.notConverged / s.samples,
  perSample: { iterations: s.iterations, relResidual: s.relResidual },
});

export function evalText(r: EvalReport): string {
  const rows: [string, string[]][] = [
    ['iterations', [r.iterations.median, r.iterations.p90, r.iterations.max, r.iterations.mean].map(num)],
    ['final relative residual', [r.relResidual.median, r.relResidual.p90, r.relResidual.max, r.relResidual.mean].map(sci)],
  ];
  const head = ['per sample', 'median', 'p90', 'max', 'mean'];
  const widths = head.map((hd, i) => Math.max(hd.length, ...rows.map(([name, v]) => (i === 0 ? name : v[i - 1]!).length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [
    `checkpoint ${r.checkpoint}: ${r.model}, ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}; ${r.samples} ${r.split} samples of ${r.data}`,
    `solver ${r.solver}, tolerance ${r.tol} on the relative residual, at most ${r.maxIter} iterations, batch ${r.batch}`,
    `${r.split} error ${pct(r.error)} (loss ${r.loss.toFixed(4)})`,
    '',
    line(head),
    ...rows.map(([name, v]) => line([name, ...v])),
    '',
    `not converged: ${pct(r.notConvergedShare)} (${r.notConverged} of ${r.samples}); mean iterations of a batch's solve ${r.batchIterations.toFixed(2)}`,
  ].join('\n');
}
