/** `deq plot`: forward and backward residual per iteration (the tutorial's semilog figure), as SVG and PNG. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { type Model, modelNames, type ModelName } from '../nn/models.js';
import { InputError } from '../core/errors.js';
import { shortHash } from '../train/cellSource.js';
import { buildModel } from '../train/model.js';
import { readCellFile } from './cell.js';
import type { FixedPointOptions, SolverName } from '../solvers/index.js';
import { writeAtomic } from '../util/fs.js';
import { treeMismatch } from '../train/checkpoint.js';
import { CheckpointError } from '../train/errors.js';
import { loadRun } from '../train/rundir.js';
import { ensureWritableDir, removeStaleTemps } from '../util/outdir.js';
import { loadData, take } from '../train/data.js';
import { CHECKPOINT_FILE, type TrainConfig } from '../train/run.js';
import type { CommandSpec, Parsed } from './args.js';
import { PALETTE, semilogChart } from './chart.js';
import type { CliIo } from './io.js';
import { flagError } from './errors.js';
import { svgToPng } from './render.js';
import { FORWARD_SOLVERS, MAX_ITER_LIMIT } from './train.js';
import { residualTraces } from '../train/residuals.js';
import { chartToSvg } from './svg.js';

export const plotSpec: CommandSpec = {
  name: 'plot',
  summary: 'Plot the forward and backward residual per iteration of the DEQ layer (semilog y) as residuals.svg and residuals.png.',
  usage: 'deq plot [--out DIR] [options]',
  flags: [
    { name: 'out', kind: 'string', value: 'DIR', default: 'deq-run', help: `folder with ${CHECKPOINT_FILE} (from deq train); the plots are written there` },
    { name: 'model', kind: 'string', choices: modelNames, help: 'model to plot when --out holds no checkpoint (an untrained model; default mlp)' },
    { name: 'solver', kind: 'string', choices: FORWARD_SOLVERS, help: 'forward solver (default: the one the checkpoint was trained with)' },
    { name: 'tol', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'X', default: '1e-6', help: 'relative residual at which each solve stops' },
    { name: 'max-iter', kind: 'int', min: 1, max: MAX_ITER_LIMIT, value: 'N', default: '60', help: 'iteration limit of each solve' },
    { name: 'batch', kind: 'int', min: 1, max: 1000, value: 'N', default: '100', help: 'test images solved together' },
    { name: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, value: 'N', default: '0', help: 'seed of the random backward cotangent' },
  ],
  examples: ['deq plot --out deq-run', 'deq plot --out fresh --model mlp --solver forward'],
};

const OUTPUTS = ['residuals.svg', 'residuals.png', 'residuals.json'];

export async function plotCommand(f: Parsed, io: CliIo): Promise<number> {
  const out = (f.out as string | undefined) ?? 'deq-run';
  const dir = ensureWritableDir(out);
  if (E.isLeft(dir)) { io.err(`deq plot: ${dir.left.message} (--out)`); return 2; }
  removeStaleTemps(out, OUTPUTS);
  const ckPath = join(out, CHECKPOINT_FILE);
  let config: Partial<TrainConfig> = {};
  let trees: { params?: unknown; state?: unknown } = {};
  let source = 'untrained';
  if (existsSync(ckPath)) {
    const run = loadRun(ckPath);
    if (E.isLeft(run)) { io.err(`deq plot: ${flagError(run.left)}`); return 2; }
    const meta = run.right;
    config = meta.config;
    trees = meta.checkpoint.trees as typeof trees;
    source = `trained, ${meta.history.length} epochs`;
    if (f.model !== undefined && f.model !== config.model) {
      io.err(`deq plot: ${ckPath} holds a ${config.model} model; drop --model or use another --out`);
      return 2;
    }
  } else {
    io.out(`no ${CHECKPOINT_FILE} in ${out}: plotting an untrained model (run deq train --out ${out} first for a trained one)`);
  }
  const modelName = (config.model ?? (f.model as ModelName | undefined) ?? 'mlp') as ModelName | 'cell';
  const data = loadData(config.dataSpec ?? 'mnist');
  if (E.isLeft(data)) { io.err(`deq plot: ${data.left.message}`); return 2; }
  const batch = (f.batch as number | undefined) ?? 100;
  const x = take(data.right.test, batch).images;
  const [, c, h] = x.shape as [number, number, number, number];
  const trainedDeq = config.deq === false ? {} : config.deq ?? {};
  let model: Model;
  const dims = { channels: c, size: h };
  if (modelName === 'cell' && config.cell) {
    // the run's cell file, by the path its checkpoint records, checked by content
    const cell = await readCellFile(config.cell.file, config.cell.inputs, `${ckPath} records this path for the run's cell; put the file back there`, `${config.cell.file}, recorded in ${ckPath}`);
    if (E.isLeft(cell)) { io.err(`deq plot: ${cell.left}`); return 2; }
    if (cell.right.source.sha256 !== config.cell.sha256) { io.err(`deq plot: ${config.cell.file} is not the file ${ckPath} was trained on (sha256 ${shortHash(cell.right.source.sha256)}…, the run's ${shortHash(config.cell.sha256)}…)`); return 2; }
    try {
      model = buildModel({ ...config, model: 'cell', deq: trainedDeq }, dims, trainedDeq, cell.right);
    } catch (e) {
      if (e instanceof InputError) { io.err(`deq plot: ${e.message}`); return 2; }
      throw e;
    }
  } else {
    if (modelName === 'cell' || !modelNames.includes(modelName)) { io.err(`deq plot: ${flagError(new CheckpointError(ckPath, `unknown model ${JSON.stringify(modelName)}`))}`); return 2; }
    model = buildModel({ ...config, model: modelName, deq: trainedDeq }, dims);
  }
  const init = model.init(new Rng(config.seed ?? 0));
  for (const key of ['params', 'state'] as const) {
    const why = key in trees ? treeMismatch(trees[key], init[key], key) : null;
    if (why) { io.err(`deq plot: ${flagError(new CheckpointError(ckPath, why))}`); return 2; }
  }
  const params = trees.params ?? init.params;
  const state = trees.state ?? init.state;
  // the model's solver settings: its preset with the run's overrides (an explicit layer's run gets the preset, trainedDeq being {})
  const trained = model.deq as FixedPointOptions;
  const deq: FixedPointOptions = {
    ...trained,
    solver: (f.solver as SolverName | undefined) ?? trained.solver,
    tol: (f.tol as number | undefined) ?? 1e-6,
    maxIter: (f['max-iter'] as number | undefined) ?? 60,
  };
  deq.backwardTol = deq.tol;
  deq.backwardMaxIter = deq.maxIter;
  const traces = await residualTraces(model, params, state, x as Tensor, deq, {}, (f.seed as number | undefined) ?? 0);
  const chart = semilogChart(
    [{ name: 'Forward', values: traces.forward, color: PALETTE[0]! }, { name: 'Backward', values: traces.backward, color: PALETTE[1]! }],
    { title: `${modelName} (${source}) · ${deq.solver} · batch ${batch}`, xLabel: 'Iteration', yLabel: 'Relative residual' },
  );
  const svg = chartToSvg(chart);
  await writeAtomic(join(out, 'residuals.svg'), svg);
  await writeAtomic(join(out, 'residuals.png'), svgToPng(svg));
  await writeAtomic(join(out, 'residuals.json'), `${JSON.stringify({ model: modelName, solver: deq.solver, tol: deq.tol, ...traces }, null, 2)}\n`);
  const last = (v: number[]) => (v.length ? v[v.length - 1]!.toExponential(2) : '-');
  io.out(`forward: ${traces.forward.length} iterations to ${last(traces.forward)}; backward: ${traces.backward.length} iterations to ${last(traces.backward)}`);
  io.out(`wrote ${join(out, 'residuals.svg')}, ${join(out, 'residuals.png')} and residuals.json`);
  return 0;
}
