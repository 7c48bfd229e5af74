/**
 * What one solver iteration costs: ONNX kernels per iteration (deterministic, from onnxruntime's
 * profiler) and time per iteration, for the compiled solve of the MLP's cell z = tanh(zW + x)
 * (batch 100, width 100, float32), and kernels and time per training step of the tutorial's models.
 *
 *   npx tsx bench/iteration.ts [--against DIR] [--reps N] [--solvers anderson,forward,...] [--train mlp,mlp-unrolled,mlp-newton,conv]
 *                              [--trips 1,2,4] [--clock cpu|wall]
 *
 * mlp-unrolled is the tutorial's first model: forward iteration, backprop through the iterations
 * (--solver forward --backward unrolled --max-iter 200).
 *
 * Per-iteration figures come from two solves that never meet their tolerance (tol 0), one of
 * `lo` and one of `hi` iterations: (cost(hi) − cost(lo)) / (hi − lo), so the fixed cost of a call
 * (init, stats, the run itself) drops out. Times are medians over `reps` interleaved repeats, with
 * their range. `--against DIR` loads the library from another checkout (an older commit with its
 * own src/) and times it side by side in the same process, alternating call by call. `--trips`
 * compares solver steps per loop trip (stepsPerTrip) side by side instead. `--clock cpu` (default)
 * times the process's CPU time (onnxruntime's thread included; spinning is off), which a busy
 * machine disturbs far less than wall time; `--clock wall` times wall time.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { median } from './stats.js';

type Lib = typeof import('../src/index.js');

const argv = process.argv.slice(2);
const flag = (name: string, fallback?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const reps = Number(flag('reps', '15'));
const solvers = flag('solvers', 'anderson,forward')!.split(',').filter((s) => ['forward', 'anderson', 'broyden', 'newton', 'newtonKrylov'].includes(s));
/** Training configurations: the tutorial's models, and its first layer (forward iteration, backprop through the iterations). */
const TRAIN: Record<string, { model: 'mlp' | 'mlp-newton' | 'conv'; deq: Record<string, unknown> }> = {
  mlp: { model: 'mlp', deq: {} },
  'mlp-newton': { model: 'mlp-newton', deq: {} },
  conv: { model: 'conv', deq: {} },
  'mlp-unrolled': { model: 'mlp', deq: { solver: 'forward', backward: 'unrolled', maxIter: 200 } },
};
const trainModels = flag('train', 'mlp')!.split(',').filter((m) => m in TRAIN);
const trips = flag('trips')?.split(',').map(Number);
const against = flag('against');
const clock = flag('clock', 'cpu') === 'wall' ? () => performance.now() : () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const [lo, hi] = [10, 30];

const fmtRange = (xs: number[], d = 1) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

async function loadLib(dir: string): Promise<Lib> {
  return (await import(pathToFileURL(join(resolve(dir), 'src', 'index.ts')).href)) as Lib;
}

/** Kernel calls per run by op type (Loop nodes excluded: their bodies' kernels are listed). */
async function kernelCounts(model: Uint8Array, feeds: Record<string, unknown>): Promise<{ calls: number; byOp: Map<string, number> }> {
  const prefix = join(tmpdir(), `deq-iter-profile-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    enableProfiling: true, profileFilePrefix: prefix,
    extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
  });
  await session.run(feeds as never);
  session.endProfiling();
  await session.release();
  const base = prefix.split('/').pop()!;
  const file = readdirSync(tmpdir()).filter((f) => f.startsWith(base)).map((f) => join(tmpdir(), f))[0];
  if (!file) throw new Error('no onnxruntime profile was written');
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; args?: { op_name?: string } }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  let calls = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    if (op === 'Loop') continue;
    byOp.set(op, (byOp.get(op) ?? 0) + 1);
    calls++;
  }
  return { calls, byOp };
}

function feedsOf(lib: Lib, compiled: { session: { inputNames: readonly string[] } }, args: unknown[]): Record<string, unknown> {
  const [leaves] = lib.treeFlatten<unknown>(args);
  const ts = leaves.filter((l): l is InstanceType<Lib['Tensor']> => l instanceof lib.Tensor);
  return Object.fromEntries(compiled.session.inputNames.map((n, i) => [n, new ort.Tensor(ts[i]!.dtype as 'float32', ts[i]!.data as Float32Array, [...ts[i]!.shape])]));
}

interface Candidate { name: string; run: () => Promise<unknown> }

/** Run the candidates alternately, `reps` times each after a warm-up; per-candidate times in ms. */
async function interleaved(cands: Candidate[], warm = 2): Promise<number[][]> {
  for (const c of cands) for (let i = 0; i < warm; i++) await c.run();
  const t: number[][] = cands.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let q = 0; q < cands.length; q++) {
      const i = (q + r) % cands.length;
      const t0 = clock();
      await cands[i]!.run();
      t[i]!.push(clock() - t0);
    }
  }
  return t;
}

interface Side { label: string; lib: Lib; extra: Record<string, unknown> }

async function solveCase(sides: Side[], solver: string): Promise<void> {
  const rows: string[] = [];
  const cands: Candidate[] = [];
  const kernels: number[] = [];
  for (const { label, lib, extra } of sides) {
    const { np, jit, fixedPoint, Rng } = lib;
    const rng = new Rng(7);
    const n = 100;
    const W = rng.randn([n, n], 'float32', 0.9 / Math.sqrt(n) / 2);
    const x = rng.randn([100, n], 'float32');
    const cell = (z: any, xx: any, w: any) => np.tanh(np.add(np.matmul(z, w), xx));
    const fns = [lo, hi].map((maxIter) => jit((xx: any, w: any) => fixedPoint(cell, np.zerosLike(xx), [xx, w], { solver: solver as 'anderson', tol: 0, maxIter, ...extra }).value));
    const counts: { calls: number; byOp: Map<string, number> }[] = [];
    for (const fn of fns) {
      const c = await fn.compile(x, W);
      counts.push(await kernelCounts(c.model, feedsOf(lib, c, [x, W])));
    }
    kernels.push((counts[1]!.calls - counts[0]!.calls) / (hi - lo));
    const perOp = [...counts[1]!.byOp].map(([op, k]) => [op, (k - (counts[0]!.byOp.get(op) ?? 0)) / (hi - lo)] as const)
      .filter(([, k]) => k > 0).sort((a, b) => b[1] - a[1]).map(([op, k]) => `${op} ${k}`).join(', ');
    rows.push(`${label}: kernels per run ${counts[0]!.calls} at ${lo} iterations, ${counts[1]!.calls} at ${hi}; per iteration: ${perOp}`);
    cands.push({ name: `${label} ${lo}`, run: () => fns[0]!(x, W) }, { name: `${label} ${hi}`, run: () => fns[1]!(x, W) });
  }
  const t = await interleaved(cands);
  console.log(`\n${solver}, tanh cell 100, batch 100, float32 (iterations ${lo} and ${hi}, tol 0)`);
  for (const r of rows) console.log(`  ${r}`);
  const perIter: number[][] = [];
  sides.forEach((s, i) => {
    const a = t[2 * i]!, b = t[2 * i + 1]!;
    const per = a.map((_, r) => ((b[r]! - a[r]!) * 1000) / (hi - lo));
    perIter.push(per);
    console.log(`  ${s.label}: ${kernels[i]!.toFixed(1)} kernels per iteration; µs per iteration ${fmtRange(per, 0)}; ms per ${hi}-iteration solve ${fmtRange(b, 2)}`);
  });
  for (let j = 1; j < sides.length; j++) {
    const ratio = perIter[0]!.map((v, r) => perIter[j]![r]! / v);
    console.log(`  time per iteration, ${sides[j]!.label} / ${sides[0]!.label}: ${fmtRange(ratio, 2)}`);
  }
}

async function trainCase(sides: Side[], name: string): Promise<void> {
  const batch = TRAIN[name]!.model === 'conv' ? 32 : 100;
  const cands: Candidate[] = [];
  const lines: string[] = [];
  for (const { label, lib, extra } of sides) {
    const { Rng } = lib;
    const { makeModel } = lib.nn;
    const { adam, batches, loadBundledDigits, makeTrainer } = lib.train;
    const data = loadBundledDigits();
    const model = makeModel(TRAIN[name]!.model, { ...TRAIN[name]!.deq, ...extra } as never);
    const trainer = makeTrainer(model, adam(), { intraOpNumThreads: 1 });
    const { params, state } = model.init(new Rng(0));
    const { x, y } = batches(data.train, batch, { rng: new Rng(1), dropLast: true }).next().value!;
    const { report } = await trainer.step(params, state, adam().init(params), x, y, 0);
    const compiled = await trainer.trainGraph.compile(params, state, x, y);
    const { calls, byOp } = await kernelCounts(compiled.model, feedsOf(lib, compiled, [params, state, x, y]));
    const top = [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([op, c]) => `${op} ${c}`).join(', ');
    lines.push(`${label}: ${calls} kernels per step at ${report.forward?.iterations} / ${report.backward?.iterations} iterations fwd / bwd (${top})`);
    cands.push({ name: label, run: () => trainer.trainGraph(params, state, x, y) });
  }
  const t = await interleaved(cands, 1);
  console.log(`\n${name} training graph (valueAndGrad), batch ${batch}, initial params, first batch`);
  for (const l of lines) console.log(`  ${l}`);
  sides.forEach((s, i) => console.log(`  ${s.label}: ms per step ${fmtRange(t[i]!, 2)}`));
  for (let j = 1; j < sides.length; j++) {
    const ratio = t[0]!.map((v, r) => t[j]![r]! / v);
    console.log(`  time per step, ${sides[j]!.label} / ${sides[0]!.label}: ${fmtRange(ratio, 2)}`);
  }
}

const sides: Side[] = [];
const here = await loadLib(join(import.meta.dirname, '..'));
if (trips) for (const k of trips) sides.push({ label: `stepsPerTrip ${k}`, lib: here, extra: { stepsPerTrip: k } });
else {
  if (against) sides.push({ label: `against (${against})`, lib: await loadLib(against), extra: {} });
  sides.push({ label: 'this checkout', lib: here, extra: {} });
}
console.log(`onnxruntime-node cpu, 1 intra-op thread, ${reps} interleaved repeats, ${flag('clock', 'cpu')} time; load average ${loadavg()[0]!.toFixed(2)} at the start`);
for (const s of solvers) await solveCase(sides, s);
for (const m of trainModels) await trainCase(sides, m);
console.log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end`);
