/**
 * onnxruntime's memory options and a training step: peak RSS and time per step of the tutorial's
 * models (the library's training graph, batch 100 for the MLP and 32 for the conv model) under the
 * memory pattern and the CPU arena on or off.
 *
 *   npx tsx bench/session-memory.ts [--models conv,mlp] [--steps 4] [--reps 5]
 *   npx tsx bench/session-memory.ts --live conv      onnxruntime's own counters, library defaults
 *
 * Peak RSS: one fresh child process per configuration, training `steps` steps from the same
 * initialisation on the bundled digits (Adam), getrusage maxRSS at the end; "base" is the RSS
 * before the first step (runtime and data loaded). Time: one more child holds a session of every
 * configuration and runs their training graphs alternately on the same batch, `reps` rounds after a
 * warm-up; medians and ranges, and each configuration's ratio to the library's default.
 * `--live` runs the training graph twice under onnxruntime's profiler with the library's session
 * options and prints the peak of live tensors and what the CPU arena held (mem_in_use_peak,
 * mem_arena_held) and where in the run the peak was.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Rng, type RuntimeOptions } from '../src/index.js';
import { makeModel, type ModelName } from '../src/nn/index.js';
import { adam, batches, loadBundledDigits, makeTrainer } from '../src/train/index.js';
import { median, rssMB } from './stats.js';

const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const BATCH: Record<string, number> = { mlp: 100, conv: 32 };

const configs: [string, RuntimeOptions][] = [
  ['pattern off, arena on (library default)', { memoryPattern: false, memoryArena: true }],
  ['pattern on, arena on (onnxruntime default)', { memoryPattern: true, memoryArena: true }],
  ['pattern off, arena off', { memoryPattern: false, memoryArena: false }],
  ['pattern on, arena off', { memoryPattern: true, memoryArena: false }],
];


function setup(name: string, opts: RuntimeOptions) {
  const data = loadBundledDigits();
  const model = makeModel(name as ModelName);
  const trainer = makeTrainer(model, adam(), { intraOpNumThreads: 1, ...opts }, { clipNorm: 2 });
  const { params, state } = model.init(new Rng(0));
  return { data, model, trainer, params, state };
}

async function rssChild(name: string, opts: RuntimeOptions, steps: number) {
  const { data, trainer, params: p0, state: s0 } = setup(name, opts);
  let params: unknown = p0, state: unknown = s0;
  let optState: unknown = adam().init(p0);
  const base = rssMB();
  const it = batches(data.train, BATCH[name]!, { rng: new Rng(1), dropLast: true });
  for (let i = 0; i < steps; i++) {
    const { x, y } = it.next().value!;
    ({ params, state, optState } = await trainer.step(params, state, optState, x, y, 2e-3));
  }
  return { base, peak: rssMB() };
}

async function timeChild(name: string, reps: number) {
  const sides = configs.map(([, o]) => setup(name, o));
  const { x, y } = batches(sides[0]!.data.train, BATCH[name]!, { rng: new Rng(1), dropLast: true }).next().value!;
  for (const s of sides) await s.trainer.trainGraph(s.params, s.state, x, y);
  const t: number[][] = sides.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let q = 0; q < sides.length; q++) {
      const i = (q + r) % sides.length;
      const s = sides[i]!;
      const t0 = performance.now();
      await s.trainer.trainGraph(s.params, s.state, x, y);
      t[i]!.push(performance.now() - t0);
    }
  }
  return t;
}

function child(args: string[]): unknown {
  const out = spawnSync(process.execPath, [...process.execArgv, self, ...args], { encoding: 'utf8', maxBuffer: 1 << 22 });
  if (out.status !== 0) throw new Error(`child ${args.join(' ')} failed:\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

/** The training graph under onnxruntime's profiler, with the library's memory options. */
async function live(name: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const { readdirSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { treeFlatten, Tensor } = await import('../src/index.js');
  const { trainer, params, state, data } = setup(name, {});
  const { x, y } = batches(data.train, BATCH[name]!, { rng: new Rng(1), dropLast: true }).next().value!;
  const compiled = await trainer.trainGraph.compile(params, state, x, y);
  const prefix = join(tmpdir(), `deq-session-memory-${process.pid}`);
  const session = await ort.InferenceSession.create(compiled.model, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, enableMemPattern: false, enableCpuMemArena: true,
    enableProfiling: true, profileFilePrefix: prefix, extra: { session: { 'intra_op.allow_spinning': '0' } },
  });
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  treeFlatten<unknown>([params, state, x, y])[0].filter((l): l is InstanceType<typeof Tensor> => l instanceof Tensor)
    .forEach((t, i) => { feeds[session.inputNames[i]!] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, [...t.shape]); });
  for (let i = 0; i < 2; i++) await session.run(feeds);
  session.endProfiling();
  const file = readdirSync(tmpdir()).filter((f) => f.startsWith(`deq-session-memory-${process.pid}_`)).map((f) => join(tmpdir(), f))[0]!;
  type Ev = { cat: string; name: string; args?: Record<string, string> };
  const nodes = (JSON.parse(readFileSync(file, 'utf8')) as Ev[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  rmSync(file, { force: true });
  const mb = (v: number) => (v / 2 ** 20).toFixed(0);
  const peak = Math.max(...nodes.map((e) => Number(e.args?.mem_in_use_peak ?? 0)));
  const held = Math.max(...nodes.map((e) => Number(e.args?.mem_arena_held ?? 0)));
  const at = nodes.reduce((b, e, i) => (Number(e.args?.mem_bytes_in_use ?? 0) > Number(nodes[b]!.args?.mem_bytes_in_use ?? 0) ? i : b), 0);
  console.log(`${name} training graph, library session options (memory pattern off, arena on), 2 runs:`);
  console.log(`  live tensors peak at ${mb(peak)} MB; the CPU arena held up to ${mb(held)} MB; peak RSS ${rssMB().toFixed(0)} MB`);
  console.log(`  most in use at node ${at} of ${nodes.length} (${nodes[at]!.name.replace('_kernel_time', '')}, ${nodes[at]!.args?.op_name})`);
}

if (argv[0] === '--live') {
  await live(argv[1] ?? 'conv');
} else if (argv[0] === '--rss') {
  process.stdout.write(`${JSON.stringify(await rssChild(argv[1]!, JSON.parse(argv[2]!) as RuntimeOptions, Number(argv[3])))}\n`);
} else if (argv[0] === '--time') {
  process.stdout.write(`${JSON.stringify(await timeChild(argv[1]!, Number(argv[2])))}\n`);
} else {
  const models = flag('models', 'conv,mlp').split(',').filter((m) => m in BATCH);
  const steps = Number(flag('steps', '4'));
  const reps = Number(flag('reps', '5'));
  console.log(`Training step under onnxruntime's memory options, onnxruntime-node cpu, 1 intra-op thread; load average ${loadavg()[0]!.toFixed(2)} at the start`);
  for (const name of models) {
    const rss = configs.map(([, o]) => child(['--rss', name, JSON.stringify(o), String(steps)]) as { base: number; peak: number });
    const t = child(['--time', name, String(reps)]) as number[][];
    const base = median(t[0]!);
    console.log(`\n${name} (batch ${BATCH[name]}): peak RSS after ${steps} training steps (fresh process each); ms per training graph run (${reps} alternating rounds)`);
    console.log('| options | base MB | peak MB | ms per step, median (range) | time / default |');
    console.log('|---|---:|---:|---:|---:|');
    configs.forEach(([label], i) => {
      const ts = t[i]!;
      console.log(`| ${label} | ${rss[i]!.base.toFixed(0)} | ${rss[i]!.peak.toFixed(0)} | ${median(ts).toFixed(1)} (${Math.min(...ts).toFixed(1)}–${Math.max(...ts).toFixed(1)}) | ${(median(ts) / base).toFixed(2)} |`);
    });
  }
  console.log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end`);
}
