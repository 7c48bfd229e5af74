/**
 * Peak memory of a training step, implicit vs unrolled backward.
 *
 *   npx tsx bench/memory.ts
 *
 * Model: Linear(784, 100) → DEQ(z = tanh(zW + x), forward iteration) → Linear(100, 10), float32,
 * cross-entropy on a batch of 100 random inputs; the step is jit(valueAndGrad(loss)). tol = 0 so
 * every one of maxIter iterations runs (forward and, for implicit, the backward Neumann iteration).
 * Each configuration runs in a fresh child process, and its process RSS high-water mark
 * (`resourceUsage().maxRSS`) is read at the end, so runs don't pollute each other. A baseline child
 * runs the same step without the DEQ layer.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fixedPoint, jit, np, Rng, Tensor, valueAndGrad, type Value } from '../src/index.js';

interface Config { backward: 'implicit' | 'unrolled' | 'none'; maxIter: number }
interface ChildResult { rssAfterCompileKB: number; rssPeakKB: number; iterations: number; modelBytes: number; stepMs: number; loss: number }

/** One configuration: compile the step, run it three times, report the RSS high-water marks. */
async function runChild(c: Config): Promise<ChildResult> {
  const rng = new Rng(1);
  const lin = (out: number, inp: number) => ({
    W: rng.uniform([inp, out], 'float32', -1 / Math.sqrt(inp), 1 / Math.sqrt(inp)),
    b: rng.uniform([out], 'float32', -1 / Math.sqrt(inp), 1 / Math.sqrt(inp)),
  });
  const params = { enc: lin(100, 784), cell: rng.uniform([100, 100], 'float32', -0.1, 0.1), dec: lin(10, 100) };
  const x = rng.uniform([100, 784], 'float32');
  const y = new Tensor('int64', [100], BigInt64Array.from({ length: 100 }, () => BigInt(rng.int(10))));
  type P = typeof params;
  const linear = (p: { W: Value; b: Value }, h: Value) => np.add(np.matmul(h, p.W), p.b);
  const cell = (z: Value, u: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), u));
  const loss = (p: P, x: Value, y: Value) => {
    const u = linear(p.enc, x);
    if (c.backward === 'none') return [np.crossEntropy(linear(p.dec, np.tanh(u)), y), np.sum(u)];
    const { value, stats } = fixedPoint(cell, np.zerosLike(u), [u, p.cell], {
      solver: 'forward', tol: 0, maxIter: c.maxIter, backward: c.backward, backwardSolver: 'forward',
    });
    return [np.crossEntropy(linear(p.dec, value), y), stats.iterations];
  };
  const step = jit(valueAndGrad(loss, { hasAux: true }));
  const compiled = await step.compile(params, x, y);
  const rssAfterCompileKB = process.resourceUsage().maxRSS;
  let out: [[Tensor, Tensor], unknown] | undefined;
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    out = (await step(params, x, y)) as [[Tensor, Tensor], unknown];
    times.push(performance.now() - t0);
  }
  return {
    rssAfterCompileKB,
    rssPeakKB: process.resourceUsage().maxRSS,
    iterations: c.backward === 'none' ? 0 : out![0][1].item(),
    modelBytes: compiled.model.byteLength,
    stepMs: times.sort((a, b) => a - b)[1]!,
    loss: out![0][0].item(),
  };
}
const crossEntropyLabels = 'random labels';

const self = fileURLToPath(import.meta.url);
const configs: Config[] = [
  { backward: 'none', maxIter: 0 },
  ...[10, 100].flatMap((maxIter) => (['implicit', 'unrolled'] as const).map((backward) => ({ backward, maxIter }))),
];

if (process.argv[2] === '--child') {
  const res = await runChild(JSON.parse(process.argv[3]!) as Config);
  process.stdout.write(`${JSON.stringify(res)}\n`);
} else {
  const results: (ChildResult & Config)[] = [];
  for (const c of configs) {
    const out = spawnSync(process.execPath, [...process.execArgv, self, '--child', JSON.stringify(c)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (out.status !== 0) throw new Error(`child ${JSON.stringify(c)} failed: ${out.stderr}`);
    const line = out.stdout.trim().split('\n').pop()!;
    results.push({ ...c, ...(JSON.parse(line) as ChildResult) });
    process.stderr.write(`  ${c.backward} maxIter ${c.maxIter}: done\n`);
  }
  const base = results.find((r) => r.backward === 'none')!;
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  const rows = results.filter((r) => r.backward !== 'none').map((r) => ({
    ...r,
    cells: [
      r.backward, String(r.maxIter), String(r.iterations), mb(r.rssAfterCompileKB), mb(r.rssPeakKB), mb(r.rssPeakKB - base.rssPeakKB),
      (r.modelBytes / 1e6).toFixed(2), r.stepMs.toFixed(1),
    ],
  }));
  const ratio = (maxIter: number, key: 'rssPeakKB' | 'stepMs' | 'modelBytes', over = 0) => {
    const u = results.find((r) => r.backward === 'unrolled' && r.maxIter === maxIter)!;
    const i = results.find((r) => r.backward === 'implicit' && r.maxIter === maxIter)!;
    return ((u[key] - over) / (i[key] - over)).toFixed(2);
  };
  const head = ['backward', 'maxIter', 'iters run', 'peak RSS after compile MB', 'peak RSS MB', 'above baseline MB', 'model MB', 'step ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((s, i) => s.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`Training step of Linear(784,100) → DEQ(tanh, forward iteration) → Linear(100,10), batch 100, float32, ${crossEntropyLabels}; one fresh process per row.`);
  console.log(`Baseline process (the same step without the DEQ layer: Linear → tanh → Linear): peak RSS ${mb(base.rssPeakKB)} MB.`);
  console.log('Implicit: forward iteration forward, Neumann (forward) iteration for the backward linear solve, both maxIter steps.');
  console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => line(r.cells))].join('\n'));
  for (const m of [10, 100]) {
    console.log(`maxIter ${m}: unrolled/implicit peak RSS ${ratio(m, 'rssPeakKB')}, above baseline ${ratio(m, 'rssPeakKB', base.rssPeakKB)}, model size ${ratio(m, 'modelBytes')}, step time ${ratio(m, 'stepMs')}`);
  }
}
