/**
 * A run's output folder: checked and made writable before any training, cleaned of what a killed
 * write left, guarded against replacing a checkpoint by accident; and its checkpoint read back for
 * a resume, accepted only when its metadata and trees fit the model being trained.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { InputError } from '../core/errors.js';
import { ensureWritableDir, removeStaleTemps } from '../util/outdir.js';
import { loadCheckpoint, treeMismatch, type Checkpoint } from './checkpoint.js';
import { CheckpointError, SettingError } from './errors.js';
import { shortHash } from './cellSource.js';
import { type EpochMetrics, type TrainConfig, validateConfig } from './loop.js';

export const CHECKPOINT_FILE = 'checkpoint.deq';
export const METRICS_FILE = 'metrics.json';

export interface RunDirOptions {
  /** Continue from the checkpoint in the folder. */
  resume?: boolean;
  /** Replace the checkpoint in the folder with a fresh run. */
  overwrite?: boolean;
}

/**
 * Make `dir` ready for a run: created, test-written, stale temp files of the checkpoint and
 * metrics removed; a checkpoint already there is only replaced when resuming or overwriting.
 */
export function prepareRunDir(dir: string, opts: RunDirOptions = {}): E.Either<InputError, { hasCheckpoint: boolean }> {
  if (opts.resume && opts.overwrite) return E.left(new SettingError(['resume', 'overwrite'], 'resuming and overwriting exclude each other; choose one'));
  const ok = ensureWritableDir(dir);
  if (E.isLeft(ok)) return E.left(new SettingError(['outDir'], ok.left.message));
  removeStaleTemps(dir, [CHECKPOINT_FILE, METRICS_FILE]);
  const hasCheckpoint = existsSync(join(dir, CHECKPOINT_FILE));
  if (hasCheckpoint && !opts.resume && !opts.overwrite) {
    return E.left(new SettingError(['resume', 'overwrite', 'outDir'], `${dir} already holds a checkpoint; resume from it, overwrite it, or write to another folder`));
  }
  return E.right({ hasCheckpoint });
}

export interface RunTrees { params: unknown; state: unknown; optState: unknown }

export interface SavedRun extends RunTrees {
  config: TrainConfig;
  history: EpochMetrics[];
  meta: Record<string, unknown>;
}

/** Metrics only some runs report (the Jacobian penalty, with Jacobian regularisation; the test error per epoch, in benchmarks). */
const OPTIONAL_METRIC_KEYS = ['jacPenalty', 'jacSteps', 'testError'] as const;
const METRIC_KEYS = ['lr', 'trainError', 'trainLoss', 'forwardIters', 'backwardIters', 'valError', 'valLoss', 'valForwardIters', 'seconds', 'steps', 'skipped', 'unconverged'] as const;

/** One saved history entry as EpochMetrics, every metric a number (JSON's null read as NaN); a reason when it is not. */
function readEpoch(h: unknown, i: number): EpochMetrics | string {
  if (typeof h !== 'object' || h === null || (h as { epoch?: unknown }).epoch !== i + 1) return `history entry ${i} is not epoch ${i + 1}`;
  const saved = h as Record<string, unknown>;
  const m: Partial<EpochMetrics> = { epoch: i + 1 };
  for (const k of [...METRIC_KEYS, ...OPTIONAL_METRIC_KEYS]) {
    const v = saved[k];
    if (v === undefined && (OPTIONAL_METRIC_KEYS as readonly string[]).includes(k)) continue;
    // JSON writes NaN (an epoch whose steps were all skipped) as null
    if (v !== null && typeof v !== 'number') return `history entry ${i} has ${k} ${JSON.stringify(v)}`;
    m[k] = v ?? NaN;
  }
  // every required key was set above
  return m as EpochMetrics;
}

/** The saved config and per-epoch history, checked; a reason string when they do not hold up. */
export function readRunMeta(meta: Record<string, unknown>): { config: TrainConfig; history: EpochMetrics[] } | string {
  const c = meta.config;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return 'no training configuration';
  const config = c as Record<string, unknown>;
  if (typeof config.model !== 'string' || typeof config.optimizer !== 'string') return 'no model or optimizer in its configuration';
  if (config.dataSpec !== undefined && typeof config.dataSpec !== 'string') return `data ${JSON.stringify(config.dataSpec)} in its configuration`;
  if (!Number.isSafeInteger(config.seed) || (config.seed as number) < 0) return `seed ${JSON.stringify(config.seed)} in its configuration`;
  if (config.deq !== false && (typeof config.deq !== 'object' || config.deq === null || Array.isArray(config.deq))) return `solver settings ${JSON.stringify(config.deq)} in its configuration`;
  if (config.model === 'cell' || config.cell !== undefined) {
    const cell = config.cell as Record<string, unknown> | undefined;
    const inputs = cell?.inputs as Record<string, unknown> | undefined;
    const ok = config.model === 'cell' && typeof cell === 'object' && cell !== null && typeof cell.file === 'string' &&
      typeof cell.sha256 === 'string' && /^[0-9a-f]{64}$/.test(cell.sha256) &&
      typeof inputs === 'object' && inputs !== null && typeof inputs.z === 'string' && typeof inputs.x === 'string';
    if (!ok) return `cell source ${JSON.stringify(config.cell)} for model ${JSON.stringify(config.model)} in its configuration`;
  }
  // the fields checked above have their types; validateConfig checks every number's range
  const valid = validateConfig(config as Partial<TrainConfig> as TrainConfig);
  if (E.isLeft(valid)) return `its configuration: ${valid.left.message}`;
  if (!Array.isArray(meta.history)) return 'no epoch history';
  const history: EpochMetrics[] = [];
  for (const [i, h] of meta.history.entries()) {
    const m = readEpoch(h, i);
    if (typeof m === 'string') return m;
    history.push(m);
  }
  return { config: valid.right, history };
}

/**
 * The checkpoint at `path` as a run to continue with `config`: trained with the same model and
 * optimizer, and with params, state and optimizer state of exactly the fresh ones' structure,
 * dtypes and shapes, all finite. Anything else is a damaged checkpoint and nothing of it is used.
 */
export function readRunCheckpoint(path: string, config: TrainConfig, fresh: RunTrees): E.Either<InputError, SavedRun> {
  const run = loadRun(path);
  return E.isLeft(run) ? run : checkRun(run.right, path, config, fresh);
}

/** A run's checkpoint with its saved configuration and history checked (a CheckpointError when they do not hold up). */
export interface LoadedRun { checkpoint: Checkpoint; config: TrainConfig; history: EpochMetrics[] }

export function loadRun(path: string): E.Either<InputError, LoadedRun> {
  const ck = loadCheckpoint(path);
  if (E.isLeft(ck)) return ck;
  const meta = readRunMeta(ck.right.meta);
  if (typeof meta === 'string') return E.left(new CheckpointError(path, meta));
  return E.right({ checkpoint: ck.right, ...meta });
}

/** A resume on another cell file (by content), with other z/x inputs, or with or without a cell where the run had the opposite. */
function cellMismatch(saved: TrainConfig, config: TrainConfig, path: string): SettingError | undefined {
  const was = saved.cell;
  const now = config.cell;
  if (!was && !now) return undefined;
  if (was && !now) return new SettingError(['cell', 'outDir'], `${path} was trained on the cell ${was.file} (sha256 ${shortHash(was.sha256)}…); resume with that cell file, or write to another folder`);
  if (!was && now) return new SettingError(['cell', 'outDir'], `${path} was trained with model ${saved.model}, not a cell; resume without a cell, or write to another folder`);
  if (was!.sha256 !== now!.sha256) {
    return new SettingError(['cell', 'outDir'], `${path} was trained on the cell ${was!.file} (sha256 ${shortHash(was!.sha256)}…), but ${now!.file} has sha256 ${shortHash(now!.sha256)}…; resume with the same file, or write to another folder`);
  }
  if (was!.inputs.z !== now!.inputs.z || was!.inputs.x !== now!.inputs.x) {
    return new SettingError(['cell', 'outDir'], `${path} was trained with z = ${was!.inputs.z} and x = ${was!.inputs.x}, this run has z = ${now!.inputs.z} and x = ${now!.inputs.x}; resume with the same inputs, or write to another folder`);
  }
  return undefined;
}

function checkRun(run: LoadedRun, path: string, config: TrainConfig, fresh: RunTrees): E.Either<InputError, SavedRun> {
  const { checkpoint: ck, config: saved } = run;
  const mismatch = cellMismatch(saved, config, path);
  if (mismatch) return E.left(mismatch);
  if (saved.model !== config.model || saved.optimizer !== config.optimizer) {
    return E.left(new SettingError(['model', 'optimizer', 'outDir'], `${path} was trained with model ${saved.model} and optimizer ${saved.optimizer}; resume with the same ones or write to another folder`));
  }
  // another validation set would hand validation samples to training (and back)
  if ((saved.validation ?? null) !== (config.validation ?? null)) {
    return E.left(new SettingError(['validation', 'outDir'], `${path} held out a validation set of ${saved.validation ?? 'the default size'}; resume with the same one or write to another folder`));
  }
  const norm = (c: TrainConfig) => (c.normalize === undefined ? 'no normalisation' : c.normalize === 'spectral' ? `spectral normalisation (scale ${c.spectralScale ?? 1})` : 'weight normalisation');
  if (norm(saved) !== norm(config)) {
    return E.left(new SettingError(['normalize', 'spectralScale', 'outDir'], `${path} was trained with ${norm(saved)}; resume with the same or write to another folder`));
  }
  const trees = ck.trees as Partial<RunTrees>;
  for (const key of ['params', 'state', 'optState'] as const) {
    const why = treeMismatch(trees[key], fresh[key], key);
    if (why) return E.left(new CheckpointError(path, why));
  }
  return E.right({ params: trees.params, state: trees.state, optState: trees.optState, config: saved, history: run.history, meta: ck.meta });
}
