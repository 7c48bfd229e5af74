/**
 * One measurement of the library, run by bench/peer.ts in a fresh process and printed as JSON lines.
 * The library is loaded from a checkout given by path (its src/index.ts, resolving its own
 * node_modules), so the same worker times the working tree and an older checkout side by side.
 *
 *   npx tsx bench/lib_worker.ts '{"lib": "DIR", "row": "anderson", "mode": "bench", "threads": 1, ...}'
 *
 * Rows (the tutorial's models, as a user runs them with `deq train`):
 *   fwd       --model mlp --solver forward --backward unrolled --max-iter 200, SGD 0.1 (the tutorial's recipe)
 *   newton    --model mlp-newton (Newton, dense Jacobian, implicit backward), SGD 0.1
 *   anderson  --model mlp (Anderson, implicit backward), Adam 2e-3, clip 2
 *   conv      --model conv (Anderson, implicit backward), Adam 2e-3, clip 2, batch 32
 * Modes:
 *   bench    training steps at the recipe's first learning rate, then a few evaluation batches
 *   profile  the training graph under onnxruntime's profiler: kernel executions per step, by op type
 *   tta      a whole training run (`trainRun`, the code behind `deq train`), one JSON line per epoch
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { ROWS, type Row } from './rows.js';
import { median, rssMB } from './stats.js';

type Lib = typeof import('../src/index.js');

export interface LibWorkerConfig {
  lib: string;
  row: Row;
  mode: 'bench' | 'profile' | 'tta';
  threads: number;
  steps?: number;
  warmup?: number;
  evalBatches?: number;
  /** profile: session runs profiled. */
  runs?: number;
  /** tta: epochs. */
  epochs?: number;
  seed?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function loadLib(dir: string): Promise<Lib> {
  return (await import(pathToFileURL(join(resolve(dir), 'src', 'index.ts')).href)) as Lib;
}

/** Backprop through the iterations has no separate backward solve: it runs one VJP per forward iteration. */
const bwdIters = (row: Row, fwd: number, bwd: number | undefined) => (row === 'fwd' ? fwd : bwd ?? NaN);

async function bench(lib: Lib, c: LibWorkerConfig): Promise<void> {
  const r = ROWS[c.row];
  const { nn, train, Rng } = lib;
  const data = train.loadBundledDigits();
  const model = nn.makeModel(r.model, r.deq);
  const opt = r.optimizer === 'sgd' ? train.sgd() : train.adam();
  const trainer = train.makeTrainer(model, opt, { intraOpNumThreads: c.threads }, { clipNorm: r.clipNorm });
  let { params, state } = model.init(new Rng(c.seed ?? 0));
  let optState: unknown = opt.init(params);
  const base = rssMB();
  const steps = c.steps ?? 30;
  const times: number[] = [], fwd: number[] = [], bwd: number[] = [];
  for (let epoch = 0; times.length < steps; epoch++) {
    for (const { x, y } of train.batches(data.train, r.batch, { rng: new Rng(epoch + 1), dropLast: true })) {
      if (times.length >= steps) break;
      const t0 = performance.now();
      const s = await trainer.step(params, state, optState, x, y, r.lr);
      times.push(performance.now() - t0);
      ({ params, state, optState } = s);
      const f = s.report.forward?.iterations ?? NaN;
      fwd.push(f);
      bwd.push(bwdIters(c.row, f, s.report.backward?.iterations));
    }
  }
  // the peak of the training steps alone: evaluation compiles a second graph, with its own session and arena
  const trainPeak = rssMB();
  const evalTimes: number[] = [], evalFwd: number[] = [];
  let first = true;
  for (const { x, y } of train.batches(data.test, r.evalBatch, { dropLast: true })) {
    if (evalTimes.length >= (c.evalBatches ?? 2)) break;
    const t0 = performance.now();
    const e = await trainer.evaluate(params, state, x, y);
    const dt = performance.now() - t0;
    // the first evaluation traces and compiles the evaluation graph: run it again for the timing
    if (first) { first = false; const t1 = performance.now(); await trainer.evaluate(params, state, x, y); evalTimes.push(performance.now() - t1); }
    else evalTimes.push(dt);
    evalFwd.push(e.forward?.iterations ?? NaN);
  }
  // warm-up steps are left out, but never all of them
  const step = median(times.slice(Math.min(c.warmup ?? 3, times.length - 1)));
  const ev = median(evalTimes);
  emit({
    side: 'library', row: c.row, threads: c.threads, batch: r.batch, steps, warmup: c.warmup ?? 3,
    step_ms: step, s_per_1k: step / r.batch, step_ms_all: times,
    eval_batch: r.evalBatch, eval_ms: ev, eval_s_per_1k: ev / r.evalBatch,
    peak_rss_mb: rssMB(), train_peak_rss_mb: trainPeak, base_rss_mb: base, fwd_iters: mean(fwd), bwd_iters: mean(bwd), eval_fwd_iters: mean(evalFwd),
    first_step_ms: times[0],
  });
}

/** The training graph under onnxruntime's profiler: node executions and their time per run, by op type. */
async function profile(lib: Lib, c: LibWorkerConfig): Promise<void> {
  const r = ROWS[c.row];
  const { nn, train, Rng, Tensor, treeFlatten } = lib;
  const require = createRequire(join(resolve(c.lib), 'package.json'));
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const data = train.loadBundledDigits();
  const model = nn.makeModel(r.model, r.deq);
  const trainer = train.makeTrainer(model, train.adam(), { intraOpNumThreads: c.threads });
  const { params, state } = model.init(new Rng(c.seed ?? 0));
  const { x, y } = train.batches(data.train, r.batch, { rng: new Rng(1), dropLast: true }).next().value!;
  // one library step on the same inputs gives the iteration counts behind the profile
  const { report } = await trainer.step(params, state, train.adam().init(params), x, y, 0);
  const compiled = await trainer.trainGraph.compile(params, state, x, y);
  const prefix = join(tmpdir(), `deq-bench-profile-${process.pid}`);
  const session = await ort.InferenceSession.create(compiled.model, {
    executionProviders: ['cpu'], intraOpNumThreads: c.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    enableProfiling: true, profileFilePrefix: prefix,
    extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
  });
  const [leaves] = treeFlatten<unknown>([params, state, x, y]);
  const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
  leaves.filter((l): l is InstanceType<typeof Tensor> => l instanceof Tensor).forEach((t, i) => {
    feeds[session.inputNames[i]!] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, [...t.shape]);
  });
  const runs = c.runs ?? 3;
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    wall.push(performance.now() - t0);
  }
  session.endProfiling();
  const file = readdirSync(tmpdir()).filter((f) => f.startsWith(`deq-bench-profile-${process.pid}_`)).map((f) => join(tmpdir(), f))[0];
  if (!file) throw new Error(`no onnxruntime profile ${prefix}_*.json was written`);
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(file, { force: true });
  // node events are "<name>_kernel_time"; a Loop's own event spans its body's nodes, which are listed too
  const byOp: Record<string, { us: number; n: number }> = {};
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const s = (byOp[op] ??= { us: 0, n: 0 });
    s.us += e.dur;
    s.n++;
  }
  const kernels = Object.entries(byOp).filter(([op]) => op !== 'Loop').reduce((a, [, s]) => a + s.n, 0) / runs;
  const kernelUs = Object.entries(byOp).filter(([op]) => op !== 'Loop').reduce((a, [, s]) => a + s.us, 0) / runs;
  const fwd = report.forward?.iterations ?? NaN;
  emit({
    side: 'library', mode: 'profile', row: c.row, threads: c.threads, runs, wall_ms: median(wall),
    fwd_iters: fwd, bwd_iters: bwdIters(c.row, fwd, report.backward?.iterations),
    kernels_per_step: kernels, kernel_ms_per_step: kernelUs / 1e3, loops_per_step: (byOp.Loop?.n ?? 0) / runs,
    model_mb: compiled.model.byteLength / 1e6,
    by_op: Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1].us - a[1].us).map(([op, s]) => [op, { calls: s.n / runs, ms: s.us / runs / 1e3 }])),
  });
}

/** A whole training run with the row's recipe, as `deq train` runs it; one line per epoch. */
async function tta(lib: Lib, c: LibWorkerConfig): Promise<void> {
  const r = ROWS[c.row];
  const { train } = lib;
  const t0 = performance.now();
  const data = train.loadBundledDigits();
  const start = performance.now();
  let lastBatch = start, trainS = 0, evalS = 0, epochStart = start;
  const run = train.trainRun({
    model: r.model, deq: r.deq, optimizer: r.optimizer, schedule: r.schedule, lr: r.lr, clipNorm: r.clipNorm,
    // the whole 8,000 training digits, as the peer trains on (no validation split held out)
    augment: 0, epochs: c.epochs ?? 10, batchSize: r.batch, seed: c.seed ?? 0, validation: 0,
  }, data, {
    runtime: { intraOpNumThreads: c.threads },
    // time to accuracy is measured on the test set after each epoch, on both sides
    testEachEpoch: true,
    onBatch: () => { lastBatch = performance.now(); },
    onEpoch: (m) => {
      const now = performance.now();
      trainS += (lastBatch - epochStart) / 1000;
      evalS += (now - lastBatch) / 1000;
      emit({
        side: 'library', row: c.row, epoch: m.epoch, train_error: m.trainError, test_error: m.testError,
        fwd_iters: m.forwardIters, bwd_iters: bwdIters(c.row, m.forwardIters, m.backwardIters),
        epoch_train_s: (lastBatch - epochStart) / 1000, epoch_eval_s: (now - lastBatch) / 1000,
        train_s: trainS, eval_s: evalS, wall_s: (now - start) / 1000, startup_s: (start - t0) / 1000, peak_rss_mb: rssMB(),
      });
      epochStart = now;
    },
  });
  const out = await run();
  if (out._tag === 'Left') throw out.left;
}

const c = JSON.parse(process.argv[2] ?? '{}') as LibWorkerConfig;
if (!c.lib || !(c.row in ROWS)) throw new Error(`usage: lib_worker.ts '{"lib": DIR, "row": fwd|newton|anderson|conv, "mode": bench|profile|tta, "threads": N}'`);
const lib = await loadLib(c.lib);
await { bench, profile, tta }[c.mode](lib, c);
