/**
 * Per-call overhead of the library over a bare onnxruntime-node `session.run` of the same graph,
 * on the tutorial's cell z' = tanh(z W + x) (batch 100, width 100, float32).
 *
 *   npx tsx bench/overhead.ts [calls per candidate, default 2000] [--repeats N (5)] [--lib DIR] [--no-options] [--json]
 *
 * Headline: a new input tensor every call, as a training loop or a server gives one. The library
 * call is `jitted(params, new Tensor('float32', [100, 100], batch), x)`; the bare call is
 * `session.run({ W, z: new ort.Tensor('float32', batch, [100, 100]), x })` with the other feeds
 * built once, what a user of onnxruntime writes. Equal conditions on both sides:
 *   - the same ONNX model (the library's compiled bytes) and the same session options (the
 *     library's defaults: 1 intra-op and 1 inter-op thread, spinning off, memory pattern off, CPU
 *     arena on, all graph optimisations, onnxruntime's logging off);
 *   - the same fresh data: each call takes the next of 64 distinct batches (2.5 MB, so a batch
 *     comes from memory as a data loader's would, not from the cache a repeated tensor sits in),
 *     each side with its own counter;
 *   - the output's data read, each call awaited before the next;
 *   - the candidates alternate call by call (the order rotating), in one process.
 * Each repeat gives each candidate's median per call; the ratio is library ÷ bare within the
 * repeat; the headline is the median and range of that ratio over the repeats.
 *
 * The other rows locate the cost: the same tensors every call on both sides, the finite check
 * off, and the library's own JavaScript with onnxruntime's run replaced by a stub. `--lib DIR`
 * measures the library of another checkout (its src/), under this script. `--no-options` skips
 * the comparison of session options (threads, spinning) at the end; `--json` prints one JSON line.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { finiteMedian } from './stats.js';

type Lib = typeof import('../src/index.js');
type Tensor = InstanceType<Lib['Tensor']>;

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const calls = Number(argv.find((a, i) => /^\d+$/.test(a) && !argv[i - 1]?.startsWith('--')) ?? 2000);
const repeats = Number(flag('repeats') ?? 5);
const libDir = flag('lib');
const json = argv.includes('--json');
const lib: Lib = libDir ? ((await import(pathToFileURL(join(resolve(libDir), 'src', 'index.ts')).href)) as Lib) : await import('../src/index.js');
const { jit, np, Rng, Tensor } = lib;

const batch = 100;
const width = 100;
const rng = new Rng(0);
const params = { W: rng.randn([width, width], 'float32', 1 / Math.sqrt(width)) };
const z = rng.randn([batch, width], 'float32');
const x = rng.randn([batch, width], 'float32');
const pool = Array.from({ length: 64 }, () => rng.randn([batch, width], 'float32').data as Float32Array<ArrayBuffer>);
const cell = (p: { W: unknown }, z: unknown, x: unknown) => np.tanh(np.add(np.matmul(z as never, p.W as never), x as never));

const range = (xs: number[], d: number) => `${finiteMedian(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
const log = (s: string) => {
  if (!json) console.log(s);
};

/** The candidates alternate call by call, the order rotating; each one's median per call, in µs. */
async function interleaved(candidates: [string, () => Promise<unknown>][], n: number): Promise<number[]> {
  const samples = candidates.map(() => [] as number[]);
  for (let r = 0; r < n; r++) {
    for (let q = 0; q < candidates.length; q++) {
      const i = (q + r) % candidates.length;
      const t0 = process.hrtime.bigint();
      await candidates[i]![1]();
      samples[i]!.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
  }
  return samples.map(finiteMedian);
}

/** A session with the library's default options (src/backend/runtime.ts). */
const sessionOptions = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all' as const,
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  enableMemPattern: false,
  enableCpuMemArena: true,
  logSeverityLevel: 4 as const,
  extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
};

async function overhead(): Promise<{ fresh: number[]; same: number[] }> {
  const jitted = jit(cell);
  const unchecked = jit(cell, { checkFinite: false });
  const compiled = await jitted.compile(params, z, x);
  const bare = await ort.InferenceSession.create(compiled.model, sessionOptions);
  const [nW, nZ, nX] = bare.inputNames as [string, string, string];
  const out = bare.outputNames[0]!;
  const ortOf = (t: Tensor) => new ort.Tensor('float32', t.data as Float32Array, [...t.shape]);
  const [tW, tZ, tX] = [params.W, z, x].map(ortOf);
  const feedsOnce = { [nW]: tW!, [nZ]: tZ!, [nX]: tX! };
  const counters = new Map<string, number>();
  const next = (who: string) => {
    const k = counters.get(who) ?? 0;
    counters.set(who, k + 1);
    return pool[k & 63]!;
  };
  const read = (t: Tensor) => t.data;

  // the library's own work: the same jitted call with onnxruntime's run answered at once
  const stubbed = jit(cell);
  const stubRaw = (await stubbed.compile(params, z, x)).session.raw as { handler?: { run: (...a: unknown[]) => Promise<unknown> }; run: (...a: unknown[]) => Promise<unknown> };
  const answer = await bare.run(feedsOnce);
  if (stubRaw.handler) stubRaw.handler.run = () => Promise.resolve(answer);
  stubRaw.run = () => Promise.resolve(answer);

  const candidates: [string, () => Promise<unknown>][] = [
    ['bare, a new input tensor each call', () => bare.run({ [nW]: tW!, [nZ]: new ort.Tensor('float32', next('bare'), [batch, width]), [nX]: tX! }).then((o) => o[out]!.data)],
    ['library, a new input tensor each call', () => (jitted(params, new Tensor('float32', [batch, width], next('library')), x) as Promise<Tensor>).then(read)],
    ['library, a new input tensor, checkFinite off', () => (unchecked(params, new Tensor('float32', [batch, width], next('unchecked')), x) as Promise<Tensor>).then(read)],
    ['bare, the same tensors each call', () => bare.run(feedsOnce).then((o) => o[out]!.data)],
    ['library, the same tensors each call', () => (jitted(params, z, x) as Promise<Tensor>).then(read)],
    ['library JS alone (stub run), a new input tensor', () => (stubbed(params, new Tensor('float32', [batch, width], next('stub')), x) as Promise<Tensor>).then(read)],
    ['library JS alone (stub run), the same tensors', () => (stubbed(params, z, x) as Promise<Tensor>).then(read)],
  ];
  // both give the same values
  const a = (await jitted(params, z, x)) as Tensor;
  const b = (await bare.run(feedsOnce))[out]!.data as Float32Array;
  const maxDiff = Math.max(...Array.from(a.data as Float32Array, (v, i) => Math.abs(v - b[i]!)));

  for (const [, fn] of candidates) for (let i = 0; i < 300; i++) await fn(); // warm-up
  const perRepeat: number[][] = [];
  for (let r = 0; r < repeats; r++) perRepeat.push(await interleaved(candidates, calls));
  await bare.release();
  await Promise.all([jitted, unchecked, stubbed].map((j) => j.release()));

  const col = (i: number) => perRepeat.map((m) => m[i]!);
  const bareFresh = col(0), bareSame = col(3);
  log(`\nper-call time of tanh(z W + x), z ${batch}x${width}, float32, onnxruntime-node cpu; ${calls} calls per candidate and repeat, interleaved; ${repeats} repeats`);
  log(`| path | µs per call, median (min–max) over repeats | ÷ bare with the same inputs, median (min–max) |`);
  log('|---|---:|---:|');
  candidates.forEach(([name], i) => {
    const ref = name.includes('stub') ? null : name.includes('same') ? bareSame : bareFresh;
    log(`| ${name} | ${range(col(i), 1)} | ${ref ? range(col(i).map((v, r) => v / ref[r]!), 3) : '—'} |`);
  });
  const fresh = col(1).map((v, r) => v / bareFresh[r]!);
  const same = col(4).map((v, r) => v / bareSame[r]!);
  log(`\nheadline: library ÷ bare session.run, a new input tensor each call: ${range(fresh, 3)} over ${repeats} repeats (target ≤ 1.10: ${finiteMedian(fresh) <= 1.1 ? 'met' : 'not met'}); the same tensors each call: ${range(same, 3)}; max |difference| of the outputs ${maxDiff}`);
  return { fresh, same };
}

/** Session options with two sessions alive, called alternately (as a training step and an eval would be). */
async function sessionOptionsTable(): Promise<void> {
  const model = (await jit(cell).compile(params, z, x)).model;
  const configs: [string, Record<string, unknown>][] = [
    ['intraOpNumThreads 1, spinning off (library default)', { intraOpNumThreads: 1, extra: { session: { 'intra_op.allow_spinning': '0' } } }],
    ['intraOpNumThreads 1, spinning on', { intraOpNumThreads: 1, extra: { session: { 'intra_op.allow_spinning': '1' } } }],
    ['intraOpNumThreads default, spinning off', { extra: { session: { 'intra_op.allow_spinning': '0' } } }],
    ['intraOpNumThreads default, spinning on (ort default)', { extra: { session: { 'intra_op.allow_spinning': '1' } } }],
  ];
  const candidates: [string, () => Promise<unknown>][] = [];
  const sessions: ort.InferenceSession[] = [];
  for (const [name, opts] of configs) {
    const pair = await Promise.all([0, 1].map(() => ort.InferenceSession.create(model, { executionProviders: ['cpu'], ...opts })));
    sessions.push(...pair);
    const feeds = Object.fromEntries(pair[0]!.inputNames.map((n, i) => [n, new ort.Tensor('float32', [params.W, z, x][i]!.data as Float32Array, [width, width])]));
    let k = 0;
    candidates.push([name, () => pair[k++ & 1]!.run(feeds)]);
  }
  for (const [, fn] of candidates) for (let i = 0; i < 200; i++) await fn();
  const medians = await interleaved(candidates, calls);
  log(`\nsession options, two sessions alive and called alternately (median per call)`);
  log('| options | µs per call | ÷ library default |');
  log('|---|---:|---:|');
  candidates.forEach(([name], i) => log(`| ${name} | ${medians[i]!.toFixed(1)} | ${(medians[i]! / medians[0]!).toFixed(3)} |`));
  await Promise.all(sessions.map((s) => s.release()));
}

log(`onnxruntime-node ${ort.env.versions.common ?? ''}; library from ${libDir ?? 'this checkout'}; load average ${loadavg()[0]!.toFixed(2)} at the start`);
const result = await overhead();
if (!argv.includes('--no-options')) await sessionOptionsTable();
log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end`);
if (json) console.log(JSON.stringify({ calls, repeats, fresh: result.fresh, same: result.same }));
