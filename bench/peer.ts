/**
 * This library against its PyTorch peer (bench/torch_peer.py): training throughput and peak memory
 * of the MLP DEQ (batch 100) and the conv DEQ (batch 32) on the bundled digits, same split, same
 * solver settings, same thread count on both sides.
 *
 *   npx tsx bench/peer.ts [--models mlp,conv] [--threads 1,2] [--mlp-steps 60] [--conv-steps 15] [--warmup 3]
 *   npx tsx bench/peer.ts --profile mlp|conv [--threads N] [--steps N] [--no-arena]
 *
 * Every measurement runs in a fresh child process (this file in --worker mode, or the Python
 * script), so each peak RSS (getrusage maxrss) belongs to that configuration alone. Seconds per
 * 1,000 samples come from the median training step after the warm-up steps; a library step is the
 * compiled valueAndGrad graph plus the host Adam update, a PyTorch step is forward, backward,
 * clipping and Adam. --profile runs the library's training graph under onnxruntime's profiler and
 * prints where the time of a step goes, by operator type.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, Tensor, treeFlatten } from '../src/index.js';
import { makeModel, type ModelName } from '../src/nn/index.js';
import { adam, batches, loadBundledDigits, makeTrainer } from '../src/train/index.js';

type Bench = 'mlp' | 'conv';
const BATCH: Record<Bench, number> = { mlp: 100, conv: 32 };

type Lam = 'absolute' | 'relative';
interface WorkerConfig { model: Bench; threads: number; steps: number; warmup: number }
interface Result {
  side: 'library' | 'torch';
  /** torch only: Anderson's λ as the tutorial has it (absolute) or scaled as the library does (relative). */
  lam?: Lam;
  model: Bench;
  threads: number;
  step_ms: number;
  s_per_1k: number;
  peak_rss_mb: number;
  base_rss_mb: number;
  fwd_iters: number;
  bwd_iters: number;
  first_step_ms?: number;
}

const self = fileURLToPath(import.meta.url);
const root = join(self, '..', '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rssMB = () => process.resourceUsage().maxRSS / 1024;

/** Training steps of one model on the bundled digits, as `deq train` takes them (Adam 2e-3, clip 2, no shifts). */
async function worker(c: WorkerConfig): Promise<Result> {
  const data = loadBundledDigits();
  const model = makeModel(c.model as ModelName);
  const opt = adam();
  const trainer = makeTrainer(model, opt, { intraOpNumThreads: c.threads }, { clipNorm: 2 });
  let { params, state } = model.init(new Rng(0));
  let optState: unknown = opt.init(params);
  const base = rssMB();
  const times: number[] = [], fwd: number[] = [], bwd: number[] = [];
  for (let epoch = 0; times.length < c.steps; epoch++) {
    for (const { x, y } of batches(data.train, BATCH[c.model], { rng: new Rng(epoch + 1), dropLast: true })) {
      if (times.length >= c.steps) break;
      const t0 = performance.now();
      const r = await trainer.step(params, state, optState, x, y, 2e-3);
      times.push(performance.now() - t0);
      ({ params, state, optState } = r);
      fwd.push(r.report.forward?.iterations ?? NaN);
      bwd.push(r.report.backward?.iterations ?? NaN);
    }
  }
  const step = median(times.slice(c.warmup));
  return {
    side: 'library', model: c.model, threads: c.threads, step_ms: step, s_per_1k: step / BATCH[c.model],
    peak_rss_mb: rssMB(), base_rss_mb: base, fwd_iters: mean(fwd), bwd_iters: mean(bwd), first_step_ms: times[0],
  };
}

/** Run the training graph under onnxruntime's profiler and total the node time per operator type. */
async function profile(name: Bench, threads: number, steps: number, arena: boolean): Promise<void> {
  const ort = (await import('onnxruntime-node')) as any;
  const data = loadBundledDigits();
  const model = makeModel(name);
  const trainer = makeTrainer(model, adam(), { intraOpNumThreads: threads });
  const { params, state } = model.init(new Rng(0));
  const { x, y } = batches(data.train, BATCH[name], { rng: new Rng(1), dropLast: true }).next().value!;
  // one library step on the same inputs, for the iteration counts behind the profile
  const { report } = await trainer.step(params, state, adam().init(params), x, y, 0);
  const compiled = await trainer.trainGraph.compile(params, state, x, y);
  const prefix = join(tmpdir(), `deq-peer-profile-${process.pid}`);
  const session = await ort.InferenceSession.create(compiled.model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    enableProfiling: true, profileFilePrefix: prefix, enableCpuMemArena: arena, enableMemPattern: arena,
    extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
  });
  const [leaves] = treeFlatten<unknown>([params, state, x, y]);
  const feeds: Record<string, unknown> = {};
  leaves.filter((l): l is Tensor => l instanceof Tensor).forEach((t, i) => {
    feeds[session.inputNames[i]] = new ort.Tensor(t.dtype, t.data, [...t.shape]);
  });
  const wall: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    wall.push(performance.now() - t0);
  }
  // the Node binding returns nothing: the file is <prefix>_<date>.json
  session.endProfiling();
  const base = `deq-peer-profile-${process.pid}_`;
  const file = readdirSync(tmpdir()).filter((f) => f.startsWith(base)).map((f) => join(tmpdir(), f))[0];
  if (!file) throw new Error(`no onnxruntime profile ${prefix}_*.json was written`);
  type Args = { op_name?: string; mem_in_use_peak?: string; mem_arena_held?: string };
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: Args }[];
  rmSync(file, { force: true });
  // node events are "<name>_kernel_time"; a Loop's own time includes its body's nodes, listed too
  const byOp = new Map<string, { us: number; n: number }>();
  let runUs = 0, livePeak = 0, arenaHeld = 0;
  for (const e of events) {
    livePeak = Math.max(livePeak, Number(e.args?.mem_in_use_peak ?? 0));
    arenaHeld = Math.max(arenaHeld, Number(e.args?.mem_arena_held ?? 0));
    if (e.cat === 'Session' && e.name === 'model_run') runUs += e.dur;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const s = byOp.get(op) ?? { us: 0, n: 0 };
    s.us += e.dur;
    s.n++;
    byOp.set(op, s);
  }
  const loopUs = byOp.get('Loop')?.us ?? 0;
  const innerUs = [...byOp].filter(([op]) => op !== 'Loop').reduce((a, [, s]) => a + s.us, 0);
  console.log(`${name} training graph, batch ${BATCH[name]}, ${threads} thread(s), ${steps} runs: wall median ${median(wall).toFixed(1)} ms, model_run mean ${(runUs / steps / 1e3).toFixed(1)} ms`);
  console.log(`  iterations fwd / bwd: ${report.forward?.iterations} / ${report.backward?.iterations}; peak RSS ${rssMB().toFixed(0)} MB (two sessions of the graph alive; memory arena ${arena ? 'on' : 'off'} in the profiled one)`);
  const calls = [...byOp].filter(([op]) => op !== 'Loop').reduce((a, [, s]) => a + s.n, 0);
  console.log(`  ${(compiled.model.byteLength / 1e6).toFixed(2)} MB model; ${(calls / steps).toFixed(0)} kernel calls per run, ${(innerUs / calls).toFixed(1)} µs per call on average`);
  if (arena) console.log(`  onnxruntime memory: live tensors peak at ${(livePeak / 2 ** 20).toFixed(0)} MB, the CPU arena holds up to ${(arenaHeld / 2 ** 20).toFixed(0)} MB`);
  console.log(`  time in kernels other than Loop: ${(innerUs / steps / 1e3).toFixed(1)} ms per run; Loop nodes (their bodies included) ${(loopUs / steps / 1e3).toFixed(1)} ms`);
  console.log('  op type              ms/run   share   calls/run   µs/call');
  const rows = [...byOp].filter(([op]) => op !== 'Loop').sort((a, b) => b[1].us - a[1].us).slice(0, 18);
  for (const [op, s] of rows) {
    console.log(`  ${op.padEnd(18)} ${(s.us / steps / 1e3).toFixed(2).padStart(8)} ${((100 * s.us) / innerUs).toFixed(1).padStart(6)}% ${(s.n / steps).toFixed(0).padStart(11)} ${(s.us / s.n).toFixed(1).padStart(9)}`);
  }
}

function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no JSON result in:\n${stdout}`);
  return JSON.parse(line) as T;
}

function runLibrary(c: WorkerConfig): Result {
  const out = spawnSync(process.execPath, [...process.execArgv, self, '--worker', JSON.stringify(c)], { encoding: 'utf8', maxBuffer: 1 << 22 });
  if (out.status !== 0) throw new Error(`library worker ${JSON.stringify(c)} failed:\n${out.stderr}`);
  return lastJson<Result>(out.stdout);
}

function runTorch(c: WorkerConfig, lam: Lam): Result {
  const args = [join(root, 'bench', 'torch_peer.py'), '--bench', '--model', c.model, '--threads', String(c.threads), '--steps', String(c.steps), '--warmup', String(c.warmup)];
  if (lam === 'relative') args.push('--relative-lam');
  const out = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', args, { encoding: 'utf8', maxBuffer: 1 << 22, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
  if (out.status !== 0) throw new Error(`torch_peer.py ${args.slice(1).join(' ')} failed:\n${out.stderr}`);
  return lastJson<Result>(out.stdout);
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((s, i) => (i < 3 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join(' | ')} |`;
  return [line(head), `|${w.map((n, i) => (i < 3 ? `${'-'.repeat(n + 1)}-` : `${'-'.repeat(n + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') {
    process.stdout.write(`${JSON.stringify(await worker(JSON.parse(process.argv[3]!) as WorkerConfig))}\n`);
    return;
  }
  if (process.argv[2] === '--profile') {
    await profile(process.argv[3] as Bench, Number(flag('threads', '1')), Number(flag('steps', process.argv[3] === 'conv' ? '5' : '30')), !process.argv.includes('--no-arena'));
    return;
  }
  const threads = flag('threads', '1,2').split(',').map(Number);
  const models = flag('models', 'mlp,conv').split(',').filter((m): m is Bench => m === 'mlp' || m === 'conv');
  const steps: Record<Bench, number> = { mlp: Number(flag('mlp-steps', '60')), conv: Number(flag('conv-steps', '15')) };
  const warmup = Number(flag('warmup', '3'));
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const results: Result[] = [];
  for (const model of models) {
    for (const n of threads) {
      const c = { model, threads: n, steps: steps[model], warmup };
      // one heavy process at a time; library and torch back to back so they see similar load
      for (const run of [() => runLibrary(c), () => runTorch(c, 'absolute'), () => runTorch(c, 'relative')]) {
        const r = run();
        results.push(r);
        process.stderr.write(`  ${r.side}${r.lam ? ` (${r.lam} λ)` : ''} ${model} ${n} thread(s): ${r.s_per_1k.toFixed(2)} s/1k, ${r.peak_rss_mb.toFixed(0)} MB\n`);
      }
    }
  }
  const pick = (model: Bench, n: number, lam?: Lam) => results.find((r) => r.model === model && r.threads === n && r.lam === lam)!;
  const f = (v: number, d = 2) => v.toFixed(d);
  const lamName: Record<Lam, string> = { absolute: "tutorial's", relative: "library's" };
  const rows = models.flatMap((model) => threads.flatMap((n) => (['absolute', 'relative'] as const).map((lam) => {
    const l = pick(model, n), t = pick(model, n, lam);
    return [
      `${model} (batch ${BATCH[model]})`, String(n), lamName[lam], f(l.s_per_1k), f(t.s_per_1k), `${f(t.s_per_1k / l.s_per_1k)}×`,
      f(l.peak_rss_mb, 0), f(t.peak_rss_mb, 0), `${f(t.peak_rss_mb / l.peak_rss_mb)}×`,
      `${f(l.fwd_iters, 1)} / ${f(l.bwd_iters, 1)}`, `${f(t.fwd_iters, 1)} / ${f(t.bwd_iters, 1)}`,
    ];
  })));
  console.log(`Training throughput and peak memory: library (onnxruntime-node, cpu EP) vs PyTorch (bench/torch_peer.py), ${new Date().toISOString().slice(0, 10)}`);
  console.log(`steps: ${models.map((m) => `${m} ${steps[m]}`).join(', ')}; medians after ${warmup} warm-up steps; load average ${f(load0)} at the start, ${f(loadavg()[0]!)} at the end; ${f((performance.now() - t0) / 1000, 0)} s in all`);
  console.log('ratio = torch time / library time (> 1: the library is faster); MB = peak RSS of the process; iterations in the library\'s count (Anderson steps after the two initial evaluations)');
  console.log(table(
    ['model', 'threads', 'torch Anderson λ', 'library s/1k', 'torch s/1k', 'ratio', 'library MB', 'torch MB', 'MB ratio', 'library iters fwd / bwd', 'torch iters fwd / bwd'],
    rows,
  ));
  for (const model of models) {
    const best = (lam?: Lam) => results.filter((r) => r.model === model && r.lam === lam).sort((a, b) => a.s_per_1k - b.s_per_1k)[0]!;
    const l = best();
    const parts = (['absolute', 'relative'] as const).map((lam) => {
      const t = best(lam);
      return `torch (${lamName[lam]} λ) ${f(t.s_per_1k)} at ${t.threads} → ${f(t.s_per_1k / l.s_per_1k)}×`;
    });
    console.log(`${model} best of each side: library ${f(l.s_per_1k)} s/1k at ${l.threads} thread(s); ${parts.join('; ')}`);
  }
  const base = (side: Result['side'], lam?: Lam) => results.filter((r) => r.side === side && r.lam === lam).map((r) => `${r.model}/${r.threads}t ${f(r.base_rss_mb, 0)}`).join(', ');
  console.log(`RSS before the first step (runtime + data loaded), MB: library ${base('library')}; torch ${base('torch', 'absolute')}`);
  console.log(`library first step (trace + compile + run), ms: ${results.filter((r) => r.side === 'library').map((r) => `${r.model}/${r.threads}t ${f(r.first_step_ms ?? NaN, 0)}`).join(', ')}`);
}

await main();
