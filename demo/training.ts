/**
 * The training panel: the library's epoch loop (train.trainEpochs, the loop `npm run train` runs)
 * on the bundled digits, with pause and resume between steps, live charts, the CLI's table, and
 * every step recorded for the throughput table and the browser test.
 */
import * as deq from '../src/browser.js';
import type { DataSplit } from '../src/train/dataset.js';
import type { EpochMetrics, Evaluation, TrainConfig } from '../src/train/loop.js';
import { metricsTable } from '../src/cli/format.js';
import { $, drawChart, message, nextFrame, PALETTE } from './dom.js';
import { executionProviders, type Provider } from './env.js';
import { runs } from './lock.js';
import { endCapture, startCapture, takePrinted } from './printed.js';

export interface Settings {
  provider: Provider;
  solver: 'anderson' | 'forward' | 'broyden';
  backward: 'implicit' | 'phantom' | 'jfb';
  tol: number;
  epochs: number;
  batch: number;
  samples: number;
  seed: number;
}

/** Nodes per provider (cpu, webgpu, …; copies between devices not counted) and the op types of the nodes on the CPU. */
export interface Placement { nodes: Record<string, number>; cpuOps: string[] }

export function summarise(nodes: readonly deq.NodePlacement[]): Placement | null {
  if (!nodes.length) return null;
  const out: Placement = { nodes: {}, cpuOps: [] };
  for (const n of nodes) {
    if (n.opType === 'MemcpyToHost' || n.opType === 'MemcpyFromHost') continue;
    const p = n.provider.replace(/ExecutionProvider$/, '').toLowerCase();
    out.nodes[p] = (out.nodes[p] ?? 0) + 1;
    if (p === 'cpu' && !out.cpuOps.includes(n.opType)) out.cpuOps.push(n.opType);
  }
  out.cpuOps.sort();
  return out;
}

export interface StepRecord { epoch: number; batch: number; batches: number; loss: number; seconds: number; samples: number; forwardIters: number; backwardIters: number }

/** What the page has trained so far (read by the draw panel, the throughput table and the browser test). */
export interface TrainingState {
  status: 'idle' | 'running' | 'paused' | 'done' | 'stopped' | 'failed';
  settings: Settings | null;
  config: TrainConfig | null;
  /** The execution provider of the training graph's session (what onnxruntime-web created it with). */
  provider: string | null;
  /** Where the training graph's nodes ran in its first step, from onnxruntime's profile (null until then, or when it could not be read). */
  placement: Placement | null;
  steps: StepRecord[];
  epochs: EpochMetrics[];
  /** The test set's evaluation, once, when the run is done. */
  test: Evaluation | null;
  model: deq.nn.Model | null;
  params: unknown;
  state: unknown;
  error: string | null;
}

/** The bundled digits' 8,000 training images less the 1,000 held out for validation. */
export const TRAIN_SAMPLES = deq.train.BUNDLED_TRAIN_SIZE - deq.train.defaultValidationSize(deq.train.BUNDLED_TRAIN_SIZE);

/** The settings as `npm run train` flags; the run's other settings are the CLI's defaults. */
export function configOf(s: Settings): TrainConfig {
  const D = deq.train.TRAIN_DEFAULTS;
  return {
    model: 'mlp',
    // trace: every step also reports its residual after each iteration (the residual plot)
    deq: { solver: s.solver, tol: s.tol, backward: s.backward === 'phantom' ? { phantom: 5 } : s.backward, trace: true },
    optimizer: D.optimizer, schedule: D.schedule, lr: D.lr[D.optimizer], clipNorm: D.clipNorm[D.optimizer], augment: D.augment, weightDecay: 0,
    epochs: s.epochs, batchSize: s.batch, seed: s.seed,
    ...(s.samples < TRAIN_SAMPLES ? { trainLimit: s.samples } : {}),
  };
}

export function commandOf(s: Settings): string {
  const limit = s.samples < TRAIN_SAMPLES ? ` --train-limit ${s.samples}` : '';
  return `npm run train -- --solver ${s.solver} --backward ${s.backward} --tol ${s.tol} --epochs ${s.epochs} --batch ${s.batch}${limit} --seed ${s.seed}`;
}

/** The model the config describes (the CLI builds the same one: buildModel of an mlp without normalisation). */
export const mlpOf = (config: TrainConfig): deq.nn.Model => deq.nn.makeModel('mlp', config.deq, { channels: 1, size: 28 });

export class Training {
  readonly state: TrainingState = { status: 'idle', settings: null, config: null, provider: null, placement: null, steps: [], epochs: [], test: null, model: null, params: null, state: null, error: null };
  private abort: AbortController | null = null;
  private resume: (() => void) | null = null;
  private finished: Promise<void> = Promise.resolve();
  private lastDraw = 0;

  constructor(private readonly data: DataSplit, private readonly onChange: (t: Training) => void) {}

  /** Stop the current run (if any) and start a new one. */
  async start(settings: Settings): Promise<void> {
    await this.stop();
    const config = configOf(settings);
    const checked = deq.train.validateConfig(config);
    if (checked._tag === 'Left') throw checked.left;
    const abort = new AbortController();
    this.abort = abort;
    const s = this.state;
    Object.assign(s, { status: 'running', settings, config, provider: null, placement: null, steps: [], epochs: [], test: null, error: null });
    s.model = mlpOf(config);
    ({ params: s.params, state: s.state } = s.model.init(new deq.Rng(config.seed)));
    this.draw(true);
    this.finished = this.loop(config, settings.provider, abort);
  }

  private async loop(config: TrainConfig, provider: Provider, abort: AbortController): Promise<void> {
    const s = this.state;
    // the loop holds the run lock except between steps, where predictions and cell checks get it
    let release = await runs.acquire();
    // the first step is profiled: onnxruntime-web prints where each node ran, and the page reads it
    startCapture();
    try {
      const result = await deq.train.trainEpochs(config, this.data, this.state.model!, {
        runtime: { runtime: 'web', executionProviders: executionProviders(provider), profile: true },
        signal: abort.signal,
        onProvider: (p, profile) => {
          s.provider = p;
          s.placement = summarise(deq.placementOf(profile ?? takePrinted()));
          endCapture();
          this.onChange(this);
        },
        onBatch: async (p) => {
          s.params = p.params;
          s.state = p.state;
          s.steps.push({
            epoch: p.epoch + 1, batch: p.batch, batches: p.batches, loss: p.report.loss, seconds: p.seconds, samples: p.samples,
            forwardIters: p.report.forward?.iterations ?? 0, backwardIters: p.report.backward?.iterations ?? 0,
          });
          this.lastTraces = { forward: p.report.forward?.trace ?? [], backward: p.report.backward?.trace ?? [] };
          this.draw(false);
          release();
          await nextFrame();
          if (s.status === 'paused' && !abort.signal.aborted) {
            this.onChange(this);
            await new Promise<void>((r) => (this.resume = r));
          }
          release = await runs.acquire();
        },
        onEpoch: (m) => {
          s.epochs.push(m);
          this.draw(true);
        },
      });
      s.test = result.test;
      s.status = 'done';
    } catch (e) {
      if (abort.signal.aborted) s.status = 'stopped';
      else {
        s.status = 'failed';
        s.error = message(e);
      }
    } finally {
      endCapture();
      release();
      this.draw(true);
      this.onChange(this);
    }
  }

  pause(): void {
    if (this.state.status !== 'running') return;
    this.state.status = 'paused';
    this.onChange(this);
  }

  unpause(): void {
    if (this.state.status !== 'paused') return;
    this.state.status = 'running';
    this.resume?.();
    this.resume = null;
    this.onChange(this);
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    this.resume?.();
    this.resume = null;
    await this.finished;
  }

  private lastTraces: { forward: number[]; backward: number[] } = { forward: [], backward: [] };

  /** Progress line, charts and table; the charts at most four times a second unless forced. */
  private draw(force: boolean): void {
    const s = this.state;
    const last = s.steps[s.steps.length - 1];
    const rate = throughput(s.steps);
    const head = { idle: 'not started', running: 'training', paused: 'paused', done: 'finished', stopped: 'stopped', failed: 'failed' }[s.status];
    const where = s.provider ? ` on ${s.provider}${placementText(s.placement)}` : s.status === 'running' ? ' (compiling the training step…)' : '';
    const at = last ? ` · epoch ${last.epoch}/${s.config!.epochs}, step ${last.batch}/${last.batches} · loss ${last.loss.toFixed(4)} · ${last.forwardIters} forward / ${last.backwardIters} backward iterations` : '';
    const speed = rate ? ` · ${rate.samplesPerSecond.toFixed(0)} samples/s` : '';
    const test = s.test ? ` · test error ${(100 * s.test.error).toFixed(2)}% on ${s.test.samples} digits` : '';
    $('progress').textContent = `${head}${where}${at}${speed}${test}${s.error ? ` · ${s.error}` : ''}`;
    $('progress').classList.toggle('error', s.status === 'failed');
    const now = performance.now();
    if (!force && now - this.lastDraw < 250) return;
    this.lastDraw = now;
    $('table').textContent = s.epochs.length ? metricsTable(s.epochs) : '';
    if (s.steps.length) {
      const losses = s.steps.map((r) => r.loss);
      // the latest validation error, from the step it followed: a staircase over the epochs
      const perEpoch = last!.batches;
      const valError = losses.map((_, i) => [...s.epochs].reverse().find((m) => m.epoch * perEpoch - 1 <= i)?.valError ?? NaN);
      drawChart('loss-chart', [
        { name: 'train loss', values: losses, color: PALETTE[0]! },
        { name: 'validation error', values: valError, color: PALETTE[2]! },
      ], 'Loss and validation error', 'Step', 'Loss, error rate');
    }
    const t = this.lastTraces;
    if (t.forward.length) {
      drawChart('residual-chart', [
        { name: 'Forward', values: t.forward, color: PALETTE[0]! },
        { name: 'Backward', values: t.backward, color: PALETTE[1]! },
      ], `Step ${s.steps.length}: ${s.settings!.solver}, tol ${s.settings!.tol.toExponential(0)}`, 'Iteration', 'Relative residual');
    }
  }
}

/** Samples per second: the median step after the first (which compiles), or null before there is one. */
export function throughput(steps: readonly StepRecord[]): { samplesPerSecond: number; msPerStep: number; steps: number } | null {
  const timed = steps.slice(1).map((r) => r.seconds / r.samples).sort((a, b) => a - b);
  if (!timed.length) return null;
  const perSample = timed[timed.length >> 1]!;
  return { samplesPerSecond: 1 / perSample, msPerStep: perSample * steps[0]!.samples * 1000, steps: timed.length };
}

/** " (nodes: 412 webgpu, 37 cpu: Loop, …)" from the profile, or why the placement is not known. */
function placementText(p: Placement | null): string {
  if (!p) return ' (where each node ran was not in the profile)';
  const counts = Object.entries(p.nodes).map(([k, n]) => `${n} ${k}`).join(', ');
  const onlyCpu = Object.keys(p.nodes).every((k) => k === 'cpu');
  return ` (nodes: ${counts}${p.cpuOps.length && !onlyCpu ? `; on the CPU: ${p.cpuOps.join(', ')}` : ''})`;
}
