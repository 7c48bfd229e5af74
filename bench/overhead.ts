/**
 * Per-call overhead of the library over a bare onnxruntime-node `session.run`, on the tutorial's
 * cell z' = tanh(z W + x) (batch 100, width 100, float32). Both run the same exported graph with
 * the same session options, interleaved in one process; the table shows medians per call.
 * Then the effect of session options (intra-op threads, spinning) with two sessions alive.
 *
 *   npx tsx bench/overhead.ts [calls per candidate, default 2000]
 */
import * as ort from 'onnxruntime-node';
import { jit, np, Rng, Tensor, type Value } from '../src/index.js';

const calls = Number(process.argv[2] ?? 2000);
const batch = 100;
const width = 100;

const rng = new Rng(0);
const params = { W: rng.randn([width, width], 'float32', 1 / Math.sqrt(width)) };
const z = rng.randn([batch, width], 'float32');
const x = rng.randn([batch, width], 'float32');
const cell = (p: { W: Value }, z: Value, x: Value) => np.tanh(np.add(np.matmul(z, p.W), x));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (us: number) => `${us.toFixed(1).padStart(8)} µs`;

/**
 * Interleave the candidates call by call, so that the load of the machine (other processes on
 * few cores) hits them all alike; the median per call discards preempted calls.
 */
async function interleaved(candidates: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const entries = Object.entries(candidates);
  for (const [, fn] of entries) for (let i = 0; i < 200; i++) await fn(); // warm-up
  const samples: Record<string, number[]> = Object.fromEntries(entries.map(([k]) => [k, []]));
  for (let r = 0; r < calls; r++) {
    // rotate the order too: no candidate always runs right after the same other one
    for (let q = 0; q < entries.length; q++) {
      const [k, fn] = entries[(q + r) % entries.length]!;
      const t0 = process.hrtime.bigint();
      await fn();
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

const feedsOf = (names: readonly string[], ts: Tensor[]) =>
  Object.fromEntries(names.map((n, i) => [n, new ort.Tensor('float32', ts[i]!.data as Float32Array, [...ts[i]!.shape])]));

async function overhead(): Promise<void> {
  const jitted = jit(cell);
  const compiled = await jitted.compile(params, z, x);
  // the library's session options (runtime.ts defaults): one intra-op thread, no spinning
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all' as const,
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
  };
  const bare = await ort.InferenceSession.create(compiled.model, options);
  const inputs = [params.W, z, x];
  const feeds = feedsOf(bare.inputNames, inputs);
  const out = bare.outputNames[0]!;

  const medians = await interleaved({
    library: () => jitted(params, z, x),
    'library, checkFinite off': (() => {
      const j = jit(cell, { checkFinite: false });
      return () => j(params, z, x);
    })(),
    'library, a new z tensor each call': () => jitted(params, new Tensor('float32', z.shape, z.data), x),
    'library, a new z each call, checkFinite off': (() => {
      const j = jit(cell, { checkFinite: false });
      return () => j(params, new Tensor('float32', z.shape, z.data), x);
    })(),
    'bare session.run (feeds built once)': () => bare.run(feeds),
    // a caller needs the values: reading .data is part of a run's cost on both sides
    'bare session.run, output data read': () => bare.run(feeds).then((o) => o[out]!.data),
    'bare session.run (feeds built per call)': () => bare.run(feedsOf(bare.inputNames, inputs)),
  });
  // both produce the same values
  const a = (await jitted(params, z, x)) as Tensor;
  const b = (await bare.run(feeds))[out]!.data as Float32Array;
  const maxDiff = Math.max(...Array.from(a.data as Float32Array, (v, i) => Math.abs(v - b[i]!)));

  // the library's own per-call work, measured with its session replaced by a stub that returns
  // precomputed outputs: what is left is flattening, signature and finite checks, and wrapping
  const stubbed = jit(cell);
  const stubSession = (await stubbed.compile(params, z, x)).session as { run(i: readonly Tensor[]): Promise<Tensor[]> };
  const precomputed = await stubSession.run(inputs);
  stubSession.run = async () => precomputed;
  const jsPath = await interleaved({ 'library with a stub session': () => stubbed(params, z, x) });

  const base = medians['bare session.run (feeds built once)']!;
  console.log(`\nper-call time of tanh(z W + x), z ${batch}x${width}, float32, onnxruntime-node cpu (median of ${calls} calls each, interleaved)`);
  console.log(`${'path'.padEnd(42)} ${'time'.padStart(11)}   ratio to bare`);
  for (const [k, v] of Object.entries(medians)) console.log(`${k.padEnd(42)} ${fmt(v)}   ${(v / base).toFixed(3)}`);
  console.log(`${'library JS path alone (stub session)'.padEnd(42)} ${fmt(jsPath['library with a stub session']!)}`);
  const ratio = medians.library! / base;
  console.log(`overhead ratio (library / bare): ${ratio.toFixed(3)} (target <= 1.10) ${ratio <= 1.1 ? 'ok' : 'ABOVE TARGET'}; max |difference| ${maxDiff}`);
  await bare.release();
}

/** Session options with two sessions alive, called alternately (as a training step and an eval would be). */
async function sessionOptions(): Promise<void> {
  const model = (await jit(cell).compile(params, z, x)).model;
  const configs: [string, Record<string, unknown>][] = [
    ['intraOpNumThreads 1, spinning off (library default)', { intraOpNumThreads: 1, extra: { session: { 'intra_op.allow_spinning': '0' } } }],
    ['intraOpNumThreads 1, spinning on', { intraOpNumThreads: 1, extra: { session: { 'intra_op.allow_spinning': '1' } } }],
    ['intraOpNumThreads default, spinning off', { extra: { session: { 'intra_op.allow_spinning': '0' } } }],
    ['intraOpNumThreads default, spinning on (ort default)', { extra: { session: { 'intra_op.allow_spinning': '1' } } }],
  ];
  const candidates: Record<string, () => Promise<unknown>> = {};
  const sessions: ort.InferenceSession[] = [];
  for (const [name, opts] of configs) {
    const pair = await Promise.all([0, 1].map(() => ort.InferenceSession.create(model, { executionProviders: ['cpu'], ...opts })));
    sessions.push(...pair);
    const feeds = feedsOf(pair[0]!.inputNames, [params.W, z, x]);
    let k = 0;
    candidates[name] = () => pair[k++ & 1]!.run(feeds);
  }
  const medians = await interleaved(candidates);
  const base = medians[configs[0]![0]]!;
  console.log(`\nsession options, two sessions alive and called alternately (median per call)`);
  console.log(`${'options'.padEnd(52)} ${'time'.padStart(11)}   ratio to default`);
  for (const [k, v] of Object.entries(medians)) console.log(`${k.padEnd(52)} ${fmt(v)}   ${(v / base).toFixed(3)}`);
  await Promise.all(sessions.map((s) => s.release()));
}

await overhead();
await sessionOptions();
