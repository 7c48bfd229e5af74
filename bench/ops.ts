/**
 * The choices behind the solve loop's lowerings, measured one against the other: each candidate
 * is one ONNX Loop of `trips` trips applying the op to a carried value (so the per-run cost is
 * amortised), timed in the process's CPU time, candidates alternating; µs per trip, median
 * (range) over the repeats. Then the dense solve of 100 systems of 100 × 100 by each lowering, and
 * the finite check of a new 10,000-element input by each path.
 *
 *   npx tsx bench/ops.ts [--reps 9] [--trips 200]
 */
import { loadavg } from 'node:os';
import { allFinite, jit, np, Rng, Tensor, type Value } from '../src/index.js';
import { allFiniteSimd } from '../src/core/finite.js';
import { median } from './stats.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const reps = Number(flag('reps', '9'));
const trips = Number(flag('trips', '200'));
const rng = new Rng(1);
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const fmt = (xs: number[], scale: number) => `${(median(xs) * scale).toFixed(1)} (${(Math.min(...xs) * scale).toFixed(1)}–${(Math.max(...xs) * scale).toFixed(1)})`;

type Candidate = [string, () => Promise<unknown>];
async function compare(title: string, unit: string, scale: number, cands: Candidate[]): Promise<void> {
  for (const [, run] of cands) await run();
  const t: number[][] = cands.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let q = 0; q < cands.length; q++) {
      const i = (q + r) % cands.length;
      const c0 = cpu();
      await cands[i]![1]();
      t[i]!.push(cpu() - c0);
    }
  }
  console.log(`\n${title}\n| candidate | ${unit}, median (range) |\n|---|---:|`);
  cands.forEach(([name], i) => console.log(`| ${name} | ${fmt(t[i]!, scale)} |`));
}

/** One Loop of `trips` trips: s ← body(s). */
const looped = (body: (s: Value) => Value, opts = {}) => jit((s0: Value) => np.foriLoop(trips, (_i: Value, s: Value) => body(s), s0), opts);
const perTrip = 1000 / trips;

console.log(`onnxruntime-node cpu, 1 intra-op thread; CPU time; ${reps} alternating repeats; load average ${loadavg()[0]!.toFixed(2)} at the start`);

const x = rng.randn([100, 100], 'float32');
const norms: Candidate[] = [
  ['s + Σ s (the loop and an add alone)', () => looped((s) => np.add(s, np.sum(s, 1, true)))(x)],
  ['s + ReduceL2(s) over rows', () => looped((s) => np.add(s, np.sqrt(np.sum(np.mul(s, s), 1, true))))(x).then(() => undefined)],
];
// ReduceL2 itself, lowered directly (np.norm no longer emits it)
const { definePrimitive } = await import('../src/core/primitive.js');
const { bind1 } = await import('../src/core/trace.js');
const reduceL2 = definePrimitive<{ [k: string]: unknown }>({
  name: 'benchReduceL2',
  shape: ([a]) => [{ shape: [a!.shape[0]!, 1], dtype: a!.dtype }],
  lower: (ctx, [a]) => [ctx.op('ReduceL2', [a!, ctx.ints([1])], { keepdims: 1 })],
});
norms[1] = ['s + ReduceL2(s) over rows', () => looped((s) => np.add(s, bind1(reduceL2, [s], {})))(x)];
norms.push(['s + Sqrt(ReduceSum(s · s)) over rows (np.norm)', () => looped((s) => np.add(s, np.norm(s, 1, true)))(x)]);
await compare('Row norms of [100, 100] (float32)', 'µs per trip', perTrip, norms);

const A = rng.randn([100, 5, 5], 'float32');
const spd = (await jit((a: Value) => np.add(np.matmul(a, np.mT(a)), np.mul(np.fill([5, 5], 0, 'float32'), 0)))(A)) as Tensor;
const v = rng.randn([1, 5], 'float32');
const small = (opts: object) => looped((a) => np.add(a, np.mul(np.reshape(np.matmul(v, np.inv(a, { spd: true })), [100, 1, 5]), 1e-9)), opts);
const invFn = small({});
const elimFn = small({ contribOps: false });
await compare("Anderson's small system: vᵀ A⁻¹ for 100 SPD 5 × 5 matrices", 'µs per trip', perTrip, [
  ['Inverse (com.microsoft) + MatMul', () => invFn(spd)],
  ['unrolled elimination on [A | I] (standard ONNX) + MatMul', () => elimFn(spd)],
]);

const G = rng.randn([100, 5, 100], 'float32');
const alpha = rng.randn([100, 1, 5], 'float32');
const gram = (g: Value) => np.matmul(g, np.mT(g));
const gramBroadcast = (g: Value) => np.sum(np.mul(np.expandDims(g, 2), np.expandDims(g, 1)), 3);
const mixMatmul = jit((g: Value, a: Value) => np.foriLoop(trips, (_i: Value, s: Value) => np.add(s, np.mul(np.matmul(a, g), 0)), g));
const mixBroadcast = jit((g: Value, a: Value) => np.foriLoop(trips, (_i: Value, s: Value) => np.add(s, np.mul(np.sum(np.mul(np.reshape(a, [100, 5, 1]), g), 1, true), 0)), g));
await compare("Anderson's products on [100, 5, 100] histories", 'µs per trip', perTrip, [
  ['s + Σ s (the loop and an add alone)', () => looped((s) => np.add(s, np.mul(np.sum(s, 2, true), 0)))(G)],
  ['GGᵀ as a batched MatMul', () => looped((s) => np.add(s, np.mul(np.sum(gram(s), 2, true), 0)))(G)],
  ['GGᵀ as Mul + ReduceSum over the broadcast product', () => looped((s) => np.add(s, np.mul(np.sum(gramBroadcast(s), 2, true), 0)))(G)],
  ['αF as a batched MatMul', () => mixMatmul(G, alpha)],
  ['αF as Mul + ReduceSum', () => mixBroadcast(G, alpha)],
]);

const n = 100;
const a = rng.randn([100, n, n], 'float64', 1 / Math.sqrt(n)).toArray();
for (let b = 0; b < 100; b++) for (let i = 0; i < n; i++) a[b * n * n + i * n + i]! += 2;
const S = new Tensor('float32', [100, n, n], Float32Array.from(a));
const rhs = rng.randn([100, n, 1], 'float32');
const byInverse = jit((p: Value, q: Value) => np.matmul(np.inv(p), q));
const byInverse64 = jit((p: Value, q: Value) => np.astype(np.matmul(np.inv(np.astype(p, 'float64')), np.astype(q, 'float64')), 'float32'));
const solveNow = jit((p: Value, q: Value) => np.solve(p, q));
const byElimination = jit((p: Value, q: Value) => np.solve(p, q), { contribOps: false });
await compare('100 systems of 100 × 100, one right-hand side (float32), one session.run each', 'ms per solve', 1, [
  ['Inverse + MatMul', () => byInverse(S, rhs)],
  ['Inverse + MatMul in float64', () => byInverse64(S, rhs)],
  ['np.solve (Inverse, one refinement step)', () => solveNow(S, rhs)],
  ['np.solve in standard ONNX (elimination in one Loop)', () => byElimination(S, rhs)],
]);

const z = rng.randn([100, 100], 'float32');
const d = z.data as Float32Array;
const jsLoop = (arr: Float32Array) => {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
  for (const m = arr.length & ~3; i < m; i += 4) { s0 += arr[i]! * 0; s1 += arr[i + 1]! * 0; s2 += arr[i + 2]! * 0; s3 += arr[i + 3]! * 0; }
  for (; i < arr.length; i++) s0 += arr[i]! * 0;
  return s0 + s1 + s2 + s3 === 0;
};
const many = (f: () => unknown) => async () => { for (let i = 0; i < 1000; i++) f(); };
await compare('Finite check of 10,000 float32 (a new input of the overhead benchmark)', 'µs per check', 1, [
  ['JS loop (four sums of v · 0)', many(() => jsLoop(d))],
  ['WebAssembly SIMD (copy included)', many(() => allFiniteSimd(d))],
  ['allFinite (what jit calls)', many(() => allFinite(z))],
]);
console.log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end`);
