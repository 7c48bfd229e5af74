/**
 * Where a training step of the MLP DEQ spends its time, and whether the optimizer should be a host
 * loop or a compiled graph. All candidates run interleaved in one process on the same batches;
 * the tables show medians per call and ratios.
 *
 *   npx tsx bench/train.ts [steps, default 40]
 */
import { jit, np, Rng, scalar, Tensor, treeFlatten, treeUnflatten, type Value } from '../src/index.js';
import { makeModel } from '../src/nn/index.js';
import { adam, batches, loadBundledDigits, makeTrainer, type AdamState } from '../src/train/index.js';
import { median } from './stats.js';

const steps = Number(process.argv[2] ?? 40);
const ms = (v: number) => `${v.toFixed(2).padStart(8)} ms`;
const time = async (f: () => Promise<unknown> | unknown) => { const t = performance.now(); await f(); return performance.now() - t; };

const data = loadBundledDigits();
const train = [...batches(data.train, 100, { rng: new Rng(1) })];

// 1. the optimizer: host loop vs the same Adam update as a jitted graph
const model = makeModel('mlp', {});
const { params } = model.init(new Rng(0));
const grads = treeUnflatten(treeFlatten<Tensor>(params)[1], treeFlatten<Tensor>(params)[0].map((t) => new Rng(2).randn(t.shape, t.dtype, 0.01)));
const host = adam();
let hostState: AdamState = host.init(params);
const b1 = 0.9, b2 = 0.999, eps = 1e-8;
const adamGraph = jit((p: unknown, g: unknown, m: unknown, v: unknown, lr: Value, c1: Value, c2: Value) => {
  const [ps, def] = treeFlatten<Value>(p);
  const [gs] = treeFlatten<Value>(g);
  const [m0] = treeFlatten<Value>(m);
  const [v0] = treeFlatten<Value>(v);
  const m1 = gs.map((gi, i) => np.add(np.mul(m0[i]!, b1), np.mul(gi, 1 - b1)));
  const v1 = gs.map((gi, i) => np.add(np.mul(v0[i]!, b2), np.mul(np.mul(gi, gi), 1 - b2)));
  const p1 = ps.map((pi, i) => np.sub(pi, np.div(np.mul(lr, np.div(m1[i]!, c1)), np.add(np.sqrt(np.div(v1[i]!, c2)), eps))));
  return { p: treeUnflatten(def, p1), m: treeUnflatten(def, m1), v: treeUnflatten(def, v1) };
});
let gState = { m: hostState.m, v: hostState.v };
const hostT: number[] = [], graphT: number[] = [];
for (let i = 0; i < steps * 5; i++) {
  hostT.push(await time(() => { hostState = host.update(params, grads, hostState, 1e-3).state; }));
  graphT.push(await time(async () => {
    const t = i + 1;
    const r = await adamGraph(params, grads, gState.m, gState.v, scalar(1e-3), scalar(1 - b1 ** t), scalar(1 - b2 ** t));
    gState = { m: r.m, v: r.v };
  }));
}
const nParams = treeFlatten<Tensor>(params)[0].reduce((a, t) => a + t.size, 0);
console.log(`Adam update on ${nParams} MLP params (median of ${hostT.length}):`);
console.log(`  host loop      ${ms(median(hostT))}`);
console.log(`  jitted graph   ${ms(median(graphT))}   (graph / host = ${(median(graphT) / median(hostT)).toFixed(2)}×)`);

// 2. a training step, by solver: compiled valueAndGrad (solve + implicit backward) vs host update
console.log(`\nMLP DEQ training step, batch 100, median of ${steps} steps:`);
console.log('  solver      step graph    update   fwd it   bwd it   update share');
const trainers = (['forward', 'anderson', 'broyden'] as const).map((solver) => {
  const m = makeModel('mlp', { solver });
  const opt = adam();
  const init = m.init(new Rng(0));
  return { solver, tr: makeTrainer(m, opt), opt, p: init.params as unknown, s: init.state as unknown, os: opt.init(init.params) as unknown, g: [] as number[], u: [] as number[], f: [] as number[], b: [] as number[] };
});
for (const c of trainers) await c.tr.step(c.p, c.s, c.os, train[0]!.x, train[0]!.y, 0); // compile outside the timings
for (let i = 0; i < steps; i++) {
  const { x, y } = train[i % train.length]!;
  for (const c of trainers) {
    let out: any;
    c.g.push(await time(async () => { out = await c.tr.trainGraph(c.p, c.s, x, y); }));
    const [[, aux], g] = out;
    c.u.push(await time(() => { const r = c.opt.update(c.p, g, c.os as AdamState, 1e-3); c.p = r.params; c.os = r.state; }));
    c.f.push(aux.stats.iterations.item());
    c.b.push(c.tr.trainGraph.lastTaps['fixedPoint.backward']![0]!.iterations!.item());
  }
}
for (const c of trainers) {
  const g = median(c.g), u = median(c.u);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`  ${c.solver.padEnd(9)} ${ms(g)} ${ms(u)} ${mean(c.f).toFixed(1).padStart(8)} ${mean(c.b).toFixed(1).padStart(8)}   ${((100 * u) / (g + u)).toFixed(1).padStart(6)}%`);
}
const base = median(trainers[0]!.g);
console.log(`  step graph time relative to forward iteration: ${trainers.map((c) => `${c.solver} ${(median(c.g) / base).toFixed(2)}×`).join(', ')}`);
