/**
 * The tutorial's models, this library against PyTorch (bench/torch_peer.py) and, on the MLP DEQ,
 * against jax-js and TF.js (wasm): training throughput, iterations, peak memory, kernels per step,
 * time per solver iteration, the FLOP floor, time-to-accuracy and the library's per-call overhead,
 * side by side in one run at equal thread counts, every measurement in a fresh process, every
 * repeat printed with the median and range.
 *
 *   npx tsx bench/peer.ts [options]            (npm run bench:peer)
 *   npx tsx bench/peer.ts --profile ROW [--threads N] [--runs N] [--lib DIR]
 *
 * Rows (see bench/README.md for what each side runs):
 *   fwd       MLP, forward iteration, backprop through the iterations (the tutorial's first model; SGD 0.1)
 *   newton    MLP, Newton with the dense Jacobian, implicit backward (the tutorial's Newton layer; SGD 0.1)
 *   anderson  MLP DEQ, Anderson + implicit backward (Adam 2e-3, clip 2)
 *   conv      conv ResNet DEQ, Anderson + implicit backward (Adam 2e-3, clip 2, batch 32)
 *
 * Options (defaults in brackets):
 *   --rows LIST          rows to run [fwd,newton,anderson,conv]
 *   --repeats N          fresh-process repeats of every measurement [3]
 *   --mlp-steps N        training steps timed per process, fwd and anderson rows [40]
 *   --newton-steps N     the same, newton row [12]
 *   --conv-steps N       the same, conv row [10]
 *   --warmup N           first steps left out of the median [3]
 *   --eval-batches N     test batches timed after training (500 images; conv 32) [2]
 *   --mlp-threads N      threads on every side, MLP rows [1]
 *   --conv-threads N     threads on every side, conv row [2]
 *   --js-peers LIST      JavaScript peers on the anderson row: tfjs,jax or none [tfjs,jax]
 *   --torch-lam L        PyTorch Anderson's λ: relative (the library's), absolute (the tutorial's) or both [relative]
 *   --tta LIST           rows whose training recipe is run to the target test error, or none [fwd,anderson]
 *   --tta-epochs N       epochs of each time-to-accuracy run [10]
 *   --target-error X     test error to reach [the median final test error of PyTorch's fwd row]
 *   --profile-runs N     profiled session runs for the kernel counts [2; conv 1]
 *   --overhead-calls N   calls per candidate of bench/overhead.ts, or 0 to skip it [1000]
 *   --lib DIR            the library checkout measured [this checkout]
 *   --baseline-lib DIR   an older checkout (with its own node_modules) measured side by side
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { floorSeconds, type FloorKind, type Rates, stepFlops } from './flops.js';
import { ROWS, type Row } from './rows.js';
import { finiteMedian } from './stats.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const TORCH_MODEL: Record<Row, string> = { fwd: 'mlp-fwd', newton: 'mlp-newton', anderson: 'mlp', conv: 'conv' };
const ROW_TITLE: Record<Row, string> = {
  fwd: 'MLP, forward iteration, backprop through the iterations (SGD 0.1, batch 100)',
  newton: 'MLP, Newton implicit layer, dense Jacobian (SGD 0.1, batch 100)',
  anderson: 'MLP DEQ, Anderson + implicit backward (Adam 2e-3, clip 2, batch 100)',
  conv: 'conv ResNet DEQ, Anderson + implicit backward (Adam 2e-3, clip 2, batch 32)',
};
const ALL_ROWS: Row[] = ['fwd', 'newton', 'anderson', 'conv'];

// ---------- options ----------
function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => (s === 'none' || s === '' ? [] : s.split(','));
const opts = {
  rows: list(flag('rows', ALL_ROWS.join(','))) as Row[],
  repeats: Number(flag('repeats', '3')),
  steps: { fwd: Number(flag('mlp-steps', '40')), anderson: Number(flag('mlp-steps', '40')), newton: Number(flag('newton-steps', '12')), conv: Number(flag('conv-steps', '10')) } as Record<Row, number>,
  warmup: Number(flag('warmup', '3')),
  evalBatches: Number(flag('eval-batches', '2')),
  threads: { mlp: Number(flag('mlp-threads', '1')), conv: Number(flag('conv-threads', '2')) },
  jsPeers: list(flag('js-peers', 'tfjs,jax')) as ('tfjs' | 'jax')[],
  torchLam: flag('torch-lam', 'relative') as 'relative' | 'absolute' | 'both',
  tta: list(flag('tta', 'fwd,anderson')) as Row[],
  ttaEpochs: Number(flag('tta-epochs', '10')),
  targetError: process.argv.includes('--target-error') ? Number(flag('target-error', 'NaN')) : undefined,
  profileRuns: flag('profile-runs', ''),
  overheadCalls: Number(flag('overhead-calls', '1000')),
  lib: resolve(flag('lib', root)),
  baseline: process.argv.includes('--baseline-lib') ? resolve(flag('baseline-lib', '')) : undefined,
};
for (const r of [...opts.rows, ...opts.tta]) if (!ALL_ROWS.includes(r)) throw new Error(`unknown row '${r}'; rows are ${ALL_ROWS.join(', ')}`);
if (!(opts.repeats >= 1)) throw new Error('--repeats must be at least 1');
for (const dir of [opts.lib, opts.baseline].filter((d): d is string => d !== undefined)) {
  if (!existsSync(join(dir, 'src', 'index.ts')) || !existsSync(join(dir, 'node_modules', 'onnxruntime-node'))) {
    throw new Error(`${dir} is not a library checkout with its own node_modules (src/index.ts and node_modules/onnxruntime-node expected; run npm ci there)`);
  }
}
const threadsOf = (row: Row) => (row === 'conv' ? opts.threads.conv : opts.threads.mlp);

// ---------- running children ----------
type Json = Record<string, any>;
interface Outcome { ok: boolean; data: Json[]; stdout: string; error?: string; seconds: number }

function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd = root, json = true): Outcome {
  const t0 = performance.now();
  const out = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, cwd, env: { ...process.env, ...env } });
  const seconds = (performance.now() - t0) / 1000;
  const data = (out.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json);
  if (out.status !== 0 || (json && !data.length)) {
    const why = (out.stderr || out.error?.message || 'no output').trim().split('\n').filter((l) => !l.startsWith('npm warn')).slice(-6).join(' | ');
    return { ok: false, data, stdout: out.stdout ?? '', error: `exit ${out.status}: ${why}`, seconds };
  }
  return { ok: true, data, stdout: out.stdout, seconds };
}
const tsx = (file: string, args: string[], cwd = root, json = true) => run(process.execPath, [...process.execArgv, file, ...args], {}, cwd, json);
const libWorker = (lib: string, c: Json) => tsx(join(here, 'lib_worker.ts'), [JSON.stringify({ lib, ...c })]);
const python = process.env.PYTHON ?? '/usr/bin/python3';
function torch(args: string[]): Outcome {
  return run(python, [join(here, 'torch_peer.py'), ...args], { OMP_WAIT_POLICY: 'PASSIVE' });
}

// ---------- sides ----------
interface Side { key: string; label: string; kind: 'library' | 'torch' | 'js'; lib?: string; lam?: 'relative' | 'absolute'; js?: 'tfjs' | 'jax' }
const sides = (row: Row): Side[] => {
  const s: Side[] = [{ key: 'library', label: 'library', kind: 'library', lib: opts.lib }];
  if (opts.baseline) s.push({ key: 'baseline', label: 'library (baseline)', kind: 'library', lib: opts.baseline });
  const lams: ('relative' | 'absolute')[] = row === 'fwd' || row === 'newton' ? ['relative'] : opts.torchLam === 'both' ? ['relative', 'absolute'] : [opts.torchLam];
  for (const lam of lams) {
    s.push({ key: `torch-${lam}`, label: row === 'fwd' || row === 'newton' ? 'PyTorch' : lam === 'relative' ? "PyTorch (library's λ)" : "PyTorch (tutorial's λ)", kind: 'torch', lam });
  }
  if (row === 'anderson') for (const js of opts.jsPeers) s.push({ key: js, label: js === 'tfjs' ? 'TF.js (wasm)' : 'jax-js (wasm)', kind: 'js', js });
  return s;
};

function benchOnce(row: Row, side: Side): Outcome {
  const threads = threadsOf(row);
  const steps = opts.steps[row];
  if (side.kind === 'library') return libWorker(side.lib!, { row, mode: 'bench', threads, steps, warmup: opts.warmup, evalBatches: opts.evalBatches });
  if (side.kind === 'js') return tsx(join(here, 'js_peer.ts'), [JSON.stringify({ framework: side.js, threads, steps, warmup: opts.warmup, evalBatches: opts.evalBatches })]);
  const args = ['--bench', '--model', TORCH_MODEL[row], '--threads', String(threads), '--steps', String(steps), '--warmup', String(opts.warmup), '--eval-batches', String(opts.evalBatches)];
  if (side.lam === 'relative') args.push('--relative-lam');
  return torch(args);
}

// ---------- formatting ----------
const fmt = (v: number, d = 2) => (Number.isFinite(v) ? (Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 100 && d > 1 ? v.toFixed(1) : v.toFixed(d)) : '–');
const mr = (xs: number[], d = 2, unit = '') => {
  const f = xs.filter(Number.isFinite);
  return f.length ? `${fmt(finiteMedian(f), d)}${unit} (${fmt(Math.min(...f), d)}–${fmt(Math.max(...f), d)})` : '–';
};
function table(head: string[], rows: string[][], left = 1): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((s, i) => (i < left ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join(' | ')} |`;
  return [line(head), `|${w.map((n, i) => (i < left ? `${'-'.repeat(n + 2)}` : `${'-'.repeat(n + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}
const out = (s = '') => console.log(s);
const note = (s: string) => process.stderr.write(`${s}\n`);

function gitInfo(dir: string): string {
  try {
    const rev = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '--', 'src'], { encoding: 'utf8' }).trim();
    return `${rev}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch { return 'not a git checkout'; }
}
const pkgVersion = (dir: string, name: string) => {
  try { return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return '?'; }
};

/** How a side's step is counted for the FLOP floor. */
const floorKind = (row: Row, side: Side): FloorKind =>
  row === 'fwd' ? 'unrolled' : row === 'newton' ? (side.kind === 'torch' ? 'newton-dense' : 'newton-anderson') : 'anderson';

// ---------- the profile mode ----------
async function profileMode(): Promise<void> {
  const row = process.argv[process.argv.indexOf('--profile') + 1] as Row;
  if (!ALL_ROWS.includes(row)) throw new Error(`--profile ROW: one of ${ALL_ROWS.join(', ')}`);
  const threads = Number(flag('threads', String(threadsOf(row))));
  const r = libWorker(opts.lib, { row, mode: 'profile', threads, runs: Number(flag('runs', row === 'conv' ? '1' : '3')) });
  if (!r.ok) throw new Error(r.error);
  const p = r.data[0]!;
  out(`${row} training graph (${ROW_TITLE[row]}), ${threads} thread(s), ${p.runs} profiled run(s), library ${gitInfo(opts.lib)}`);
  out(`  iterations fwd / bwd: ${p.fwd_iters} / ${p.bwd_iters}; ${fmt(p.kernels_per_step, 0)} kernel executions per step (${fmt(p.kernels_per_step / (p.fwd_iters + p.bwd_iters), 1)} per solver iteration), ${p.loops_per_step} Loop node(s); model ${fmt(p.model_mb, 2)} MB`);
  out(`  time in kernels ${fmt(p.kernel_ms_per_step, 1)} ms per step (profiler on); wall ${fmt(p.wall_ms, 1)} ms per run`);
  out(table(['op type', 'calls/step', 'ms/step', 'µs/call'], Object.entries(p.by_op as Record<string, { calls: number; ms: number }>).filter(([op]) => op !== 'Loop').slice(0, 20)
    .map(([op, s]) => [op, fmt(s.calls, 0), fmt(s.ms, 2), fmt((s.ms * 1e3) / s.calls, 1)])));
}

// ---------- the benchmark ----------
async function main(): Promise<void> {
  const t0 = performance.now();
  const load0 = loadavg();
  const libs = [{ key: 'library', dir: opts.lib }, ...(opts.baseline ? [{ key: 'baseline', dir: opts.baseline }] : [])];
  const torchVersion = run(python, ['-c', 'import torch; print(\'{"v": "%s"}\' % torch.__version__)']).data[0]?.v ?? 'not found';

  const bench: Record<string, Outcome[]> = {};
  const rates: Rates[] = [];
  const overhead: Record<string, { lib: number; fresh: number }[]> = {};
  for (let rep = 0; rep < opts.repeats; rep++) {
    note(`repeat ${rep + 1}/${opts.repeats}`);
    const rr = tsx(join(here, 'flops.ts'), ['--threads', String(opts.threads.mlp), '--conv-threads', String(opts.threads.conv)]);
    if (rr.ok) rates.push(rr.data[0] as Rates); else note(`  matmul rates failed: ${rr.error}`);
    for (const row of opts.rows) {
      for (const side of sides(row)) {
        const o = benchOnce(row, side);
        (bench[`${row}/${side.key}`] ??= []).push(o);
        note(`  ${row} ${side.label}: ${o.ok ? `${fmt(o.data[0]!.s_per_1k, 3)} s/1k, ${fmt(o.data[0]!.peak_rss_mb, 0)} MB` : `FAILED ${o.error}`} (${fmt(o.seconds, 0)} s)`);
      }
    }
    if (opts.overheadCalls > 0) {
      for (const l of libs) {
        // one repeat per peer repeat; --json where the checkout's script has it (older ones print a table, read as text)
        const o = tsx(join(l.dir, 'bench', 'overhead.ts'), [String(opts.overheadCalls), '--repeats', '1', '--no-options', '--json'], l.dir, false);
        const text = o.stdout;
        if (!o.ok) note(`  overhead ${l.key} failed: ${o.error}`);
        const line = text.split('\n').find((t) => t.startsWith('{"calls"'));
        if (line) {
          const j = JSON.parse(line) as { fresh: number[]; same: number[] };
          (overhead[l.key] ??= []).push({ lib: j.same[0] ?? NaN, fresh: j.fresh[0] ?? NaN });
        } else {
          const lib = text.match(/^library\s+[\d.]+ µs\s+([\d.]+)$/m), fresh = text.match(/^library, a new z tensor each call\s+[\d.]+ µs\s+([\d.]+)$/m);
          (overhead[l.key] ??= []).push({ lib: lib ? Number(lib[1]) : NaN, fresh: fresh ? Number(fresh[1]) : NaN });
        }
      }
    }
  }

  // kernel counts: one profiled process per library and row (the count does not vary between runs)
  const profiles: Record<string, Json | string> = {};
  for (const row of opts.rows) {
    for (const l of libs) {
      const runs = Number(opts.profileRuns || (row === 'conv' ? '1' : '2'));
      const o = libWorker(l.dir, { row, mode: 'profile', threads: threadsOf(row), runs });
      profiles[`${row}/${l.key}`] = o.ok ? o.data[0]! : o.error!;
      note(`  profile ${row} ${l.key}: ${o.ok ? `${fmt(o.data[0]!.kernels_per_step, 0)} kernels per step` : `FAILED ${o.error}`}`);
    }
  }

  // time-to-accuracy: whole training runs with each side's recipe
  const tta: Record<string, Outcome[]> = {};
  const ttaSides = (row: Row) => sides(row).filter((s) => s.kind !== 'js' && !(s.kind === 'torch' && s.lam === 'absolute'));
  for (let rep = 0; rep < (opts.tta.length ? opts.repeats : 0); rep++) {
    for (const row of opts.tta) {
      for (const side of ttaSides(row)) {
        const o = side.kind === 'library'
          ? libWorker(side.lib!, { row, mode: 'tta', threads: threadsOf(row), epochs: opts.ttaEpochs })
          : torch(['--model', TORCH_MODEL[row], '--threads', String(threadsOf(row)), '--epochs', String(opts.ttaEpochs), '--json', ...(side.lam === 'relative' ? ['--relative-lam'] : [])]);
        (tta[`${row}/${side.key}`] ??= []).push(o);
        const last = o.data[o.data.length - 1];
        note(`  tta ${row} ${side.label} repeat ${rep + 1}: ${o.ok ? `${last!.epoch} epochs, test error ${fmt(100 * last!.test_error, 2)}%, ${fmt(last!.wall_s, 1)} s` : `FAILED ${o.error}`}`);
      }
    }
  }

  // ---------- report ----------
  const load1 = loadavg();
  out(`# deq-onnx vs PyTorch${opts.rows.includes('anderson') && opts.jsPeers.length ? ' and JavaScript peers' : ''}: the tutorial's models, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  out('');
  out(`machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores; load average ${load0.map((v) => v.toFixed(2)).join(' ')} at the start, ${load1.map((v) => v.toFixed(2)).join(' ')} at the end; ${fmt((performance.now() - t0) / 1000, 0)} s in all`);
  for (const l of libs) out(`${l.key === 'library' ? 'library ' : 'baseline'}: ${l.dir === root ? 'this checkout' : l.dir}, ${gitInfo(l.dir)}; onnxruntime-node ${pkgVersion(l.dir, 'onnxruntime-node')}, cpu EP`);
  out(`PyTorch ${torchVersion} (${python}); Node ${process.version}; jax-js ${pkgVersion(root, '@jax-js/jax')}, TF.js ${pkgVersion(root, '@tensorflow/tfjs-core')} + tfjs-backend-wasm ${pkgVersion(root, '@tensorflow/tfjs-backend-wasm')}`);
  out(`threads on every side: MLP rows ${opts.threads.mlp}, conv ${opts.threads.conv} (library: onnxruntime intraOpNumThreads, no spinning; PyTorch: OMP/OpenBLAS threads, OMP_WAIT_POLICY=PASSIVE; jax-js and TF.js wasm: 1 thread, see bench/README.md)`);
  out(`${opts.repeats} repeat(s), each a fresh process per side and row, sides run back to back in each repeat; steps per process: ${opts.rows.map((r) => `${r} ${opts.steps[r]}`).join(', ')}; medians after ${opts.warmup} warm-up steps; ${opts.evalBatches} evaluation batch(es)`);
  out('stopping rule on every side: the largest per-sample relative residual |f(z) − z| / (1e-5 + |f(z)|) below tol (the library\'s); Anderson m 5, λ 1e-4 relative to the largest diagonal entry of GGᵀ (the library\'s) unless marked');
  out('s/1k = median training step time per 1,000 training samples; epoch = 8 × train s/1k + 2 × eval s/1k (the 8,000 / 2,000 split); ratio = other side\'s time / library time, so > 1 means the library is faster; ms/iter = step time / (forward + backward iterations); × floor = step time / FLOP floor');

  const rateCell = finiteMedian(rates.map((r) => r.mm_cell_gflops)), rateEnc = finiteMedian(rates.map((r) => r.mm_enc_gflops)), rateConv = finiteMedian(rates.map((r) => r.conv_gflops));
  const medRates: Rates = { mm_cell_gflops: rateCell, mm_enc_gflops: rateEnc, conv_gflops: rateConv, threads: opts.threads.mlp, conv_threads: opts.threads.conv };
  out('');
  out(`## FLOP floor rates (onnxruntime-node, sustained, chains of one op per session.run)`);
  out(table(['product', 'threads', ...rates.map((_, i) => `repeat ${i + 1}`), 'median GFLOP/s'], [
    ['MatMul [100,100]×[100,100] (cell, VJP)', String(opts.threads.mlp), ...rates.map((r) => fmt(r.mm_cell_gflops, 1)), fmt(rateCell, 1)],
    ['MatMul [100,784]×[784,100] and back (encoder)', String(opts.threads.mlp), ...rates.map((r) => fmt(r.mm_enc_gflops, 1)), fmt(rateEnc, 1)],
    ['Conv 48→64→48, 3×3, [32,·,28,28] (ResNet cell)', String(opts.threads.conv), ...rates.map((r) => fmt(r.conv_gflops, 1)), fmt(rateConv, 1)],
  ]));

  const summary: { row: Row; side: Side; s1k: number[]; ratio: number[]; rss: number[]; step: number[]; floorX: number[] }[] = [];
  for (const row of opts.rows) {
    const ss = sides(row);
    out('');
    out(`## ${row}: ${ROW_TITLE[row]}, ${threadsOf(row)} thread(s)`);
    const rowsOut: string[][] = [];
    const lib = bench[`${row}/library`] ?? [];
    for (const side of ss) {
      const os = bench[`${row}/${side.key}`] ?? [];
      os.forEach((o, i) => {
        if (!o.ok) { rowsOut.push([side.label, String(i + 1), `failed: ${o.error!.slice(0, 160)}`, ...Array(11).fill('')]); return; }
        const d = o.data[0]!;
        const f = stepFlops({ row, kind: floorKind(row, side), batch: ROWS[row].batch, fwd: d.fwd_iters, bwd: d.bwd_iters });
        const floorMs = floorSeconds(f, medRates) * 1e3;
        rowsOut.push([side.label, String(i + 1), fmt(d.s_per_1k, 3), fmt(d.step_ms, 1), fmt(d.eval_s_per_1k, 3), fmt(8 * d.s_per_1k + 2 * d.eval_s_per_1k, 2),
          `${fmt(d.fwd_iters, 1)} / ${fmt(d.bwd_iters, 1)}`, fmt(d.step_ms / (d.fwd_iters + d.bwd_iters), 2), fmt(f.total / 1e6, 0), fmt(floorMs, 2), `${fmt(d.step_ms / floorMs, 1)}×`,
          fmt(d.peak_rss_mb, 0), fmt(d.base_rss_mb, 0), lib[i]?.ok ? `${fmt(d.s_per_1k / lib[i]!.data[0]!.s_per_1k, 2)}×` : '–']);
      });
    }
    out(table(['side', 'rep', 'train s/1k', 'step ms', 'eval s/1k', 'epoch s', 'iters fwd / bwd', 'ms/iter', 'floor MFLOP', 'floor ms', '× floor', 'peak MB', 'base MB', 'ratio'], rowsOut, 1));
    out('');
    const sumRows: string[][] = [];
    for (const side of ss) {
      const os = (bench[`${row}/${side.key}`] ?? []).map((o, i) => ({ o, i })).filter(({ o }) => o.ok);
      if (!os.length) { sumRows.push([side.label, 'failed', '', '', '', '', '', '', '', '']); continue; }
      const get = (k: string) => os.map(({ o }) => o.data[0]![k] as number);
      const ratios = os.map(({ o, i }) => (lib[i]?.ok ? o.data[0]!.s_per_1k / lib[i]!.data[0]!.s_per_1k : NaN));
      const floorX = os.map(({ o }) => {
        const d = o.data[0]!;
        return d.step_ms / (floorSeconds(stepFlops({ row, kind: floorKind(row, side), batch: ROWS[row].batch, fwd: d.fwd_iters, bwd: d.bwd_iters }), medRates) * 1e3);
      });
      summary.push({ row, side, s1k: get('s_per_1k'), ratio: ratios, rss: get('peak_rss_mb'), step: get('step_ms'), floorX });
      const epoch = os.map(({ o }) => 8 * o.data[0]!.s_per_1k + 2 * o.data[0]!.eval_s_per_1k);
      const msIter = os.map(({ o }) => o.data[0]!.step_ms / (o.data[0]!.fwd_iters + o.data[0]!.bwd_iters));
      const prof = side.kind === 'library' ? profiles[`${row}/${side.key}`] : undefined;
      const kern = typeof prof === 'object' ? `${fmt(prof.kernels_per_step, 0)} (${fmt(prof.kernels_per_step / (prof.fwd_iters + prof.bwd_iters), 0)}/iter at ${prof.fwd_iters}/${prof.bwd_iters} iters)` : typeof prof === 'string' ? 'profile failed' : 'n/a';
      sumRows.push([side.label, mr(get('s_per_1k'), 3), mr(epoch, 1), mr(get('fwd_iters'), 1), mr(get('bwd_iters'), 1), mr(msIter, 2), mr(floorX, 1, '×'), mr(get('peak_rss_mb'), 0), kern, side.key === 'library' ? '1 (reference)' : mr(ratios, 2, '×')]);
    }
    out(`summary, median (min–max) over ${opts.repeats} repeat(s):`);
    out(table(['side', 'train s/1k', 'epoch s', 'fwd iters', 'bwd iters', 'ms/iter', '× FLOP floor', 'peak RSS MB', 'kernels per step', 'ratio (this / library)'], sumRows, 1));
    if (row === 'newton') {
      out('newton: both sides\' backward is the tutorial\'s one dense solve with Jᵀ (bwd iters: the library\'s count, 1 dense step; PyTorch\'s counted as 1)');
      // the time of a smaller epoch too: 2,000 training + 2,000 test samples (as `--train-limit 2000` runs)
      out(`newton: an epoch of 2,000 training + 2,000 test samples = 2 × train s/1k + 2 × eval s/1k: ${ss.map((side) => {
        const os = (bench[`${row}/${side.key}`] ?? []).filter((o) => o.ok);
        return `${side.label} ${mr(os.map((o) => 2 * o.data[0]!.s_per_1k + 2 * o.data[0]!.eval_s_per_1k), 1, ' s')}`;
      }).join('; ')}`);
    }
    {
      // the library's evaluation compiles a second graph with its own session and memory arena
      const lib = (bench[`${row}/library`] ?? []).filter((o) => o.ok && o.data[0]!.train_peak_rss_mb !== undefined);
      if (lib.length) out(`${row}: library peak RSS of the training steps alone, before the evaluation graph is compiled: ${mr(lib.map((o) => o.data[0]!.train_peak_rss_mb!), 0)} MB`);
    }
    if (row === 'fwd') out('fwd: both sides stop at convergence (at most 200 iterations); the library records the iterates of the iterations that ran and backpropagates through exactly those; bwd iters = fwd iters (one VJP per iteration)');
  }

  // kernels per step, by op type
  if (Object.keys(profiles).length) {
    out('');
    out('## Kernels per training step (onnxruntime profiler: node executions, Loop bodies included, the Loop node itself not counted)');
    const rowsK: string[][] = [];
    for (const [k, p] of Object.entries(profiles)) {
      if (typeof p === 'string') { rowsK.push([k, `failed: ${p.slice(0, 120)}`, '', '', '', '']); continue; }
      const top = Object.entries(p.by_op as Record<string, { calls: number; ms: number }>).filter(([op]) => op !== 'Loop').sort((a, b) => b[1].calls - a[1].calls).slice(0, 5).map(([op, s]) => `${op} ${fmt(s.calls, 0)}`).join(', ');
      rowsK.push([k, fmt(p.kernels_per_step, 0), `${p.fwd_iters} / ${p.bwd_iters}`, fmt(p.kernels_per_step / (p.fwd_iters + p.bwd_iters), 1), String(p.loops_per_step), top]);
    }
    out(table(['row/checkout', 'kernels/step', 'iters fwd / bwd', 'kernels/iter', 'Loops', 'most executed'], rowsK, 1));
    out('(one profiled process per row at the initial parameters and the first training batch; kernel counts depend only on the iteration counts)');
  }

  // overhead
  if (Object.keys(overhead).length) {
    out('');
    out(`## Per-call overhead over a bare session.run (bench/overhead.ts of each checkout, ${opts.overheadCalls} calls per candidate, ratio to bare)`);
    out(table(['checkout', ...Array.from({ length: opts.repeats }, (_, i) => `repeat ${i + 1}`), 'median (min–max)'], Object.entries(overhead).flatMap(([k, v]) => [
      [`${k}: the same tensors each call`, ...v.map((x) => fmt(x.lib, 3)), mr(v.map((x) => x.lib), 3)],
      [`${k}: a new input tensor each call`, ...v.map((x) => fmt(x.fresh, 3)), mr(v.map((x) => x.fresh), 3)],
    ])));
  }

  // time-to-accuracy
  let target = opts.targetError;
  if (opts.tta.length) {
    const torchFwd = (tta['fwd/torch-relative'] ?? []).filter((o) => o.ok).map((o) => o.data[o.data.length - 1]!.test_error as number);
    target ??= finiteMedian(torchFwd);
    out('');
    out(`## Time-to-accuracy: each side's recipe (${opts.ttaEpochs} epochs) until the test error is at most ${fmt(100 * target, 2)}% on the bundled 2,000 test digits`);
    out(opts.targetError !== undefined ? '(target given by --target-error)' : `(target: the median final test error of PyTorch's fwd row, the tutorial's first model with its recipe, over ${torchFwd.length} run(s))`);
    out('wall time from the model\'s construction (library: trace and compile included) to the end of the evaluation of the first epoch that reaches the target; data loading excluded');
    const rowsT: string[][] = [];
    const sumT: string[][] = [];
    for (const row of opts.tta) {
      for (const side of ttaSides(row)) {
        const os = tta[`${row}/${side.key}`] ?? [];
        const reach: number[] = [], epochs: number[] = [], finals: number[] = [], epochS: number[] = [];
        os.forEach((o, i) => {
          if (!o.ok) { rowsT.push([`${row} ${side.label}`, String(i + 1), `failed: ${o.error!.slice(0, 160)}`, '', '', '', '']); return; }
          const hit = o.data.find((e) => e.test_error <= target!);
          const last = o.data[o.data.length - 1]!;
          if (hit) { reach.push(hit.wall_s); epochs.push(hit.epoch); }
          finals.push(last.test_error);
          epochS.push((last.train_s + last.eval_s) / last.epoch);
          rowsT.push([`${row} ${side.label}`, String(i + 1), o.data.map((e) => fmt(100 * e.test_error, 2)).join(' '), hit ? `epoch ${hit.epoch}, ${fmt(hit.wall_s, 1)} s` : 'not reached',
            fmt(100 * last.test_error, 2), fmt((last.train_s + last.eval_s) / last.epoch, 2), `${fmt(last.fwd_iters, 1)} / ${fmt(last.bwd_iters, 1)}`]);
        });
        sumT.push([`${row} ${side.label}`, `${reach.length}/${os.length}`, mr(reach, 1, ' s'), mr(epochs, 0), mr(finals.map((v) => 100 * v), 2, '%'), mr(epochS, 2, ' s')]);
      }
    }
    out(table(['row, side', 'rep', 'test error % after each epoch', 'target reached', 'final %', 's/epoch', 'last epoch iters fwd / bwd'], rowsT, 3));
    out('');
    out(table(['row, side', 'reached', 'time to target, median (min–max)', 'epochs', 'final test error', 's per epoch (train + eval)'], sumT, 1));
  }

  // headline and targets
  out('');
  out('## Headline (medians, min–max over repeats; equal threads)');
  const pick = (row: Row, key: string) => summary.find((s) => s.row === row && s.side.key === key);
  const targets: string[][] = [];
  for (const row of opts.rows) {
    const t = pick(row, 'torch-relative') ?? pick(row, 'torch-absolute');
    const l = pick(row, 'library');
    if (!t || !l) continue;
    const need = row === 'newton' ? 1 : 1.5;
    const med = finiteMedian(t.ratio);
    targets.push([`${row}: library throughput ÷ PyTorch's`, `≥ ${need}×`, mr(t.ratio, 2, '×'), med >= need ? 'met' : 'not met']);
    if (row === 'anderson') {
      const fx = finiteMedian(l.floorX);
      targets.push(['anderson: library training step ÷ FLOP floor', '≤ 2.5×', mr(l.floorX, 1, '×'), fx <= 2.5 ? 'met' : 'not met']);
      for (const js of opts.jsPeers) { const j = pick(row, js); if (j) targets.push([`anderson: library throughput ÷ ${j.side.label}'s`, '(best JS peer)', mr(j.ratio, 2, '×'), '']); }
    }
    if (row === 'conv') {
      const rss = t.rss.map((v, i) => (l.rss[i] ?? NaN) / v);
      targets.push(['conv: library peak RSS ÷ PyTorch\'s', '≤ 1×', mr(rss, 2, '×'), finiteMedian(rss) <= 1 ? 'met' : 'not met']);
    }
    const b = pick(row, 'baseline');
    if (b) targets.push([`${row}: baseline time ÷ library time (before → after)`, '', mr(b.ratio, 2, '×'), '']);
  }
  const oh = overhead.library;
  if (oh) targets.push(['overhead with a new input tensor each call', '≤ 1.10×', mr(oh.map((x) => x.fresh), 3, '×'), finiteMedian(oh.map((x) => x.fresh)) <= 1.1 ? 'met' : 'not met']);
  out(table(['measure', 'target', 'median (min–max)', ''], targets, 1));
}

if (process.argv.includes('--profile')) await profileMode();
else await main();
