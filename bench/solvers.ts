/**
 * Solvers side by side: iterations and time to tol 1e-4, host loop (one session.run per step,
 * state read back to the host in between) vs compiled loop (the whole solve in one Loop, one run).
 *
 *   npx tsx bench/solvers.ts [--reps N] [--only tanh|resnet] [--runtime node|web]
 *
 * Cells, float32: the tanh cell z = tanh(zW + x) (batch 100, width 100, ‖W‖₂ = 0.9) and the
 * tutorial's ResNetLayer(48, 64, groups 8) on 28×28 inputs, batch 32 (fewer repetitions). Each
 * figure is the median of the timed runs after one warm-up run (which also compiles).
 */
import os from 'node:os';
import { fixedPoint, fixedPointHost, jit, np, ones, Rng, setRuntimeDefaults, Tensor, zeros, type SolverName, type Value } from '../src/index.js';
import { median } from './stats.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const repsArg = flag('--reps');
const only = flag('--only');
// the default loop mode is decided per runtime: both modes run on the runtime chosen here
const runtime = flag('--runtime') === 'web' ? 'web' : 'node';
setRuntimeDefaults(runtime === 'web' ? { runtime: 'web', executionProviders: ['wasm'] } : { runtime: 'node', executionProviders: ['cpu'] });

const rng = new Rng(7);

/** Largest singular value by power iteration on WᵀW. */
function spectralNorm(w: ArrayLike<number>, n: number): number {
  let v: number[] = Array.from({ length: n }, () => 1);
  let s = 0;
  for (let it = 0; it < 200; it++) {
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) u[i]! += w[i * n + j]! * v[j]!;
    const wtu = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) wtu[j]! += w[i * n + j]! * u[i]!;
    const nrm = Math.hypot(...wtu);
    s = Math.sqrt(nrm);
    v = Array.from(wtu, (a) => a / nrm);
  }
  return s;
}

interface Case {
  cell: string;
  f: (z: Value, x: Value, p: any) => Value;
  x: Tensor;
  p: unknown;
  solvers: SolverName[];
  reps: number;
  maxIter: number;
}

function tanhCase(): Case {
  const n = 100;
  const W0 = rng.randn([n, n], 'float64');
  const s = spectralNorm(W0.data as Float64Array, n);
  const W = new Tensor('float32', [n, n], Float32Array.from(W0.data as Float64Array, (v) => (0.9 * v) / s));
  return {
    cell: 'tanh 100, batch 100',
    f: (z, x, p) => np.tanh(np.add(np.matmul(z, p.W), x)),
    x: rng.randn([100, n], 'float32'),
    p: { W },
    solvers: ['forward', 'anderson', 'broyden', 'newton', 'newtonKrylov'],
    reps: Number(repsArg ?? 7),
    maxIter: 100,
  };
}

function resnetCase(): Case {
  const [c, inner, groups, hw, batch] = [48, 64, 8, 28, 32];
  const norm = (x: Value, w: Value, b: Value) =>
    np.add(np.mul(np.groupNorm(x, groups), np.reshape(w, [1, -1, 1, 1])), np.reshape(b, [1, -1, 1, 1]));
  return {
    cell: `ResNet ${c}/${inner}, ${hw}x${hw}, batch ${batch}`,
    f: (z, x, p) => {
      const y = norm(np.relu(np.conv2d(z, p.conv1, { padding: 1 })), p.n1w, p.n1b);
      return norm(np.relu(np.add(z, norm(np.add(x, np.conv2d(y, p.conv2, { padding: 1 })), p.n2w, p.n2b))), p.n3w, p.n3b);
    },
    x: rng.randn([batch, c, hw, hw], 'float32'),
    p: {
      conv1: rng.randn([inner, c, 3, 3], 'float32', 0.01),
      conv2: rng.randn([c, inner, 3, 3], 'float32', 0.01),
      // GroupNorm's default affine init
      n1w: ones([inner], 'float32'), n1b: zeros([inner], 'float32'),
      n2w: ones([c], 'float32'), n2b: zeros([c], 'float32'),
      n3w: ones([c], 'float32'), n3b: zeros([c], 'float32'),
    },
    solvers: ['forward', 'anderson', 'broyden', 'newtonKrylov'],
    reps: Number(repsArg ?? 3),
    maxIter: 100,
  };
}

interface Row { cell: string; solver: string; hostIters: number; compiledIters: number; host: Timing; compiled: Timing; converged: string }

interface Timing { ms: number; min: number; max: number; iters: number }

async function timeIt(reps: number, fn: () => Promise<number>): Promise<Timing> {
  let iters = await fn(); // warm-up, compiles
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    iters = await fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), min: Math.min(...times), max: Math.max(...times), iters };
}

async function runCase(c: Case): Promise<Row[]> {
  const rows: Row[] = [];
  const z0 = new Tensor(c.x.dtype, c.x.shape);
  for (const solver of c.solvers) {
    const opts = { solver, tol: 1e-4, maxIter: c.maxIter };
    const compiledFn = jit((x: Value, p: unknown) => fixedPoint(c.f, np.zerosLike(x), [x, p], opts));
    let conv = '';
    const compiled = await timeIt(c.reps, async () => {
      const r = (await compiledFn(c.x, c.p)) as { stats: { iterations: Tensor; converged: Tensor } };
      conv = r.stats.converged.item() ? 'yes' : 'no';
      return r.stats.iterations.item();
    });
    const host = await timeIt(c.reps, async () => {
      const r = await fixedPointHost(c.f, z0, [c.x, c.p], opts);
      return r.runs - 1;
    });
    rows.push({ cell: c.cell, solver, hostIters: host.iters, compiledIters: compiled.iters, host, compiled, converged: conv });
    process.stderr.write(`  ${c.cell} ${solver}: done\n`);
  }
  return rows;
}

/** A mode is faster only when its slowest run beats the other's fastest; otherwise it is noise. */
const fasterOf = (h: Timing, c: Timing) => (h.min > c.max ? 'compiled loop' : c.min > h.max ? 'host loop' : 'neither (ranges overlap)');
const ms = (v: number) => v.toFixed(v < 10 ? 2 : v < 1000 ? 1 : 0);
const range = (t: Timing) => `${ms(t.ms)} (${ms(t.min)}–${ms(t.max)})`;

function table(rows: Row[]): string {
  const head = ['cell', 'solver', 'iters host', 'iters compiled', 'converged', 'host ms (min–max)', 'compiled ms (min–max)', 'host/compiled', 'faster'];
  const body = rows.map((r) => [
    r.cell, r.solver, String(r.hostIters), String(r.compiledIters), r.converged,
    range(r.host), range(r.compiled),
    (r.host.ms / r.compiled.ms).toFixed(2), fasterOf(r.host, r.compiled),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((s, i) => s.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const cases = [tanhCase, resnetCase].filter((mk) => !only || mk.name.toLowerCase().startsWith(only));
const rows: Row[] = [];
for (const mk of cases) rows.push(...(await runCase(mk())));
console.log(`Solvers to tol 1e-4 (relative residual), float32, ${runtime === 'web' ? 'onnxruntime-web wasm' : 'onnxruntime-node CPU'}, 1 intra-op thread; ${os.cpus().length} cores, Node ${process.versions.node}.`);
console.log('Median of timed runs after one warm-up run (tanh: ' + (repsArg ?? 7) + ', ResNet: ' + (repsArg ?? 3) + ' runs). Host loop: one session.run per step.');
console.log(table(rows));
