/**
 * The tutorial's theorem as code (Bai et al., 2019), in float64.
 *
 * 1. A deep weight-tied, input-injected network z_{k+1} = tanh(z_k W + x U + b), z_0 = 0, run for L
 *    layers, approaches the single DEQ layer z* = tanh(z* W + x U + b) as L grows when the layer is
 *    a contraction (here ‖W‖₂ ≤ ‖W‖_F = 0.6), and so does the gradient of a loss through it: the
 *    deep network's backprop gradient tends to the DEQ's implicit gradient.
 * 2. The converse: any deep network z_{i+1} = tanh(z_i W_i + b_i), z_0 = x, with its own weights per
 *    layer, is one DEQ layer over the stacked state z̃ = [z_1 … z_L] whose weight is block
 *    structured: z̃ ← tanh(z̃ W_z + x U + b̃), W_z holding W_i in block (i−1, i) (for row vectors;
 *    the tutorial's column-vector W_z is its transpose, block sub-diagonal), U = [W_0 0 … 0],
 *    b̃ = [b_0 … b_{L−1}]. From z̃ = 0, iteration k gets blocks 1..k right, so after L iterations z̃
 *    is the deep network's activations and a fixed point; its implicit gradient is backprop's.
 *
 *   npx tsx examples/theorem.ts
 */
import { fixedPoint, jit, np, Rng, Tensor, valueAndGrad, type Value, zeros } from '../src/index.js';

const dtype = 'float64';

// ---- 1. weight-tied network vs DEQ ------------------------------------------------------------

interface TiedParams<T = Value> { W: T; U: T; b: T }

const tiedCell = (z: Value, x: Value, p: TiedParams): Value => np.tanh(np.add(np.add(np.matmul(z, p.W), np.matmul(x, p.U)), p.b));

/** L layers of the same cell from z_0 = 0: an ordinary deep network, differentiated by backprop. */
function deepTied(x: Value, p: TiedParams, depth: number): Value {
  let z = np.zerosOf([np.shape(x)[0]!, np.shape(p.W)[0]!], dtype);
  for (let k = 0; k < depth; k++) z = tiedCell(z, x, p);
  return z;
}

const deqTied = (x: Value, p: TiedParams) =>
  fixedPoint(tiedCell, np.zerosOf([np.shape(x)[0]!, np.shape(p.W)[0]!], dtype), [x, p], { tol: 1e-14, maxIter: 100, backwardTol: 1e-14, backwardMaxIter: 100 });

const squaredError = (z: Value, target: Value): Value => np.mul(np.sum(np.square(np.sub(z, target))), 0.5);

export interface DepthRow {
  depth: number;
  /** ‖z_L − z*‖ / ‖z*‖ over the batch. */
  distance: number;
  /** ‖∇θ loss(z_L) − ∇θ loss(z*)‖ / ‖∇θ loss(z*)‖ over W, U and b (θ's implicit gradient on the right). */
  gradError: number;
}

// ---- 2. a deep network as one DEQ layer -------------------------------------------------------

interface Layer<T = Value> { W: T; b: T }

/** The deep network's activations z_1 … z_L. */
function deepUntied(x: Value, layers: readonly Layer[]): Value[] {
  const zs: Value[] = [];
  let z = x;
  for (const l of layers) zs.push((z = np.tanh(np.add(np.matmul(z, l.W), l.b))));
  return zs;
}

const widthsOf = (layers: readonly Layer[]) => layers.map((l) => np.shape(l.W)[1]!);

/** W_z, U and b̃ of the stacked DEQ, built from the layers inside the graph (so gradients reach W_i). */
function stackedWeights(layers: readonly Layer[]): { Wz: Value; U: Value; b: Value } {
  const widths = widthsOf(layers);
  const D = widths.reduce((a, w) => a + w, 0);
  const start = widths.map((_, i) => widths.slice(0, i).reduce((a, w) => a + w, 0));
  let Wz: Value = np.zerosOf([D, D], dtype);
  // block (i − 1, i): layer i reads block i − 1 of the state and writes block i
  for (let i = 1; i < layers.length; i++) {
    const [r0, c0] = [start[i - 1]!, start[i]!];
    Wz = np.add(Wz, np.pad(layers[i]!.W, [[r0, D - r0 - widths[i - 1]!], [c0, D - c0 - widths[i]!]]));
  }
  const U = np.pad(layers[0]!.W, [[0, 0], [0, D - widths[0]!]]);
  return { Wz, U, b: np.concat(layers.map((l) => l.b), 0) };
}

const stackedCell = (z: Value, x: Value, layers: readonly Layer[]): Value => {
  const { Wz, U, b } = stackedWeights(layers);
  return np.tanh(np.add(np.add(np.matmul(z, Wz), np.matmul(x, U)), b));
};

export interface IterationRow {
  iterations: number;
  /** max |f(z̃_k) − z̃_k|. */
  residual: number;
  /** max |z̃_k − [z_1 … z_L]|. */
  distance: number;
}

export interface TheoremResult {
  tied: {
    rows: DepthRow[];
    solverIterations: number;
    solverResidual: number;
  };
  converse: {
    widths: number[];
    /** The tutorial's W_z as text: which block of the state each block of the output reads. */
    blocks: string[];
    rows: IterationRow[];
    /** fixedPoint with forward iteration: its iterations, and max |z̃* − activations|. */
    solverIterations: number;
    solverDistance: number;
    /** Largest relative difference between the implicit gradients (x, every W_i and b_i) and backprop's. */
    gradDifference: number;
    /** Norm of backprop's gradient (what the difference is relative to). */
    gradNorm: number;
  };
}

const flat = (ts: readonly Tensor[]): number[] => ts.flatMap((t) => t.toArray());
const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
const diffNorm = (a: readonly number[], b: readonly number[]) => norm(a.map((v, i) => v - b[i]!));
const maxAbsDiff = (a: readonly number[], b: readonly number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

export async function theorem(depths: readonly number[] = [1, 2, 4, 8, 16, 32, 64]): Promise<TheoremResult> {
  const rng = new Rng(2019);

  // 1. weight-tied, input-injected; ‖W‖_F = 0.6 bounds ‖W‖₂, so the cell is a 0.6-contraction in z
  const d = 8, inputs = 5, batch = 4;
  const A = rng.randn([d, d], dtype).toArray();
  const W = new Tensor(dtype, [d, d], Float64Array.from(A, (v) => (0.6 * v) / norm(A)));
  const p: TiedParams<Tensor> = { W, U: rng.randn([inputs, d], dtype, 0.5), b: rng.randn([d], dtype, 0.1) };
  const x = rng.randn([batch, inputs], dtype);
  const target = rng.randn([batch, d], dtype, 0.5);
  const implicit = jit(valueAndGrad((q: TiedParams, x: Value) => {
    const { value, stats } = deqTied(x, q);
    return [squaredError(value, target), { z: value, iterations: stats.iterations, residual: stats.residual }];
  }, { hasAux: true }));
  const [[, star], gStar] = (await implicit(p, x)) as [[Tensor, { z: Tensor; iterations: Tensor; residual: Tensor }], TiedParams<Tensor>];
  const zStar = star.z.toArray();
  const gStarFlat = flat([gStar.W, gStar.U, gStar.b]);
  const rows: DepthRow[] = [];
  for (const depth of depths) {
    const deep = jit(valueAndGrad((q: TiedParams, x: Value) => {
      const z = deepTied(x, q, depth);
      return [squaredError(z, target), z];
    }, { hasAux: true }));
    const [[, zL], g] = (await deep(p, x)) as [[Tensor, Tensor], TiedParams<Tensor>];
    rows.push({
      depth,
      distance: diffNorm(zL.toArray(), zStar) / norm(zStar),
      gradError: diffNorm(flat([g.W, g.U, g.b]), gStarFlat) / norm(gStarFlat),
    });
  }

  // 2. the converse: a 4-layer network with widths 5 → 6 → 4 → 7 → 3, one DEQ over 20 features
  const widths = [5, 6, 4, 7, 3];
  const layers: Layer<Tensor>[] = widths.slice(1).map((w, i) => ({ W: rng.randn([widths[i]!, w], dtype, 0.8), b: rng.randn([w], dtype, 0.3) }));
  const L = layers.length;
  const xs = rng.randn([batch, widths[0]!], dtype);
  const t2 = rng.randn([batch, widths[L]!], dtype, 0.5);
  const activations = ((await jit((x: Value, ls: Layer[]) => np.concat(deepUntied(x, ls), 1))(xs, layers)) as Tensor).toArray();
  const D = widths.slice(1).reduce((a, w) => a + w, 0);
  const apply = jit((z: Value, x: Value, ls: Layer[]) => stackedCell(z, x, ls));
  const iterRows: IterationRow[] = [];
  let zt = zeros([batch, D], dtype);
  for (let k = 1; k <= L + 1; k++) {
    zt = (await apply(zt, xs, layers)) as Tensor;
    const fz = (await apply(zt, xs, layers)) as Tensor;
    iterRows.push({ iterations: k, residual: maxAbsDiff(fz.toArray(), zt.toArray()), distance: maxAbsDiff(zt.toArray(), activations) });
  }

  // the same DEQ through fixedPoint (forward iteration), with implicit gradients vs backprop's
  const lastBlock = (zz: Value) => np.sliceAxis(zz, 1, D - widths[L]!, D);
  const deqLoss = jit(valueAndGrad((x: Value, ls: Layer[]) => {
    const { value, stats } = fixedPoint(stackedCell, np.zerosOf([batch, D], dtype), [x, ls], {
      solver: 'forward', tol: 1e-15, stopOn: 'abs', maxIter: 2 * L, backwardSolver: 'forward', backwardTol: 1e-15, backwardMaxIter: 2 * L,
    });
    return [squaredError(lastBlock(value), t2), { z: value, iterations: stats.iterations }];
  }, { argnums: [0, 1], hasAux: true }));
  const deepLoss = jit(valueAndGrad((x: Value, ls: Layer[]) => squaredError(deepUntied(x, ls)[L - 1]!, t2), { argnums: [0, 1] }));
  const [[, deqAux], [gxDeq, gLDeq]] = (await deqLoss(xs, layers)) as [[Tensor, { z: Tensor; iterations: Tensor }], [Tensor, Layer<Tensor>[]]];
  const [, [gxDeep, gLDeep]] = (await deepLoss(xs, layers)) as [Tensor, [Tensor, Layer<Tensor>[]]];
  const pairs: [Tensor, Tensor][] = [[gxDeq, gxDeep], ...gLDeq.flatMap((l, i): [Tensor, Tensor][] => [[l.W, gLDeep[i]!.W], [l.b, gLDeep[i]!.b]])];
  const gradDifference = Math.max(...pairs.map(([a, b]) => maxAbsDiff(a.toArray(), b.toArray()) / Math.max(...b.toArray().map(Math.abs))));

  const blocks = Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => (j === i - 1 ? `W${i}ᵀ` : ' · ')).join(' '));
  return {
    tied: { rows, solverIterations: star.iterations.item(), solverResidual: star.residual.item() },
    converse: {
      widths,
      blocks,
      rows: iterRows,
      solverIterations: deqAux.iterations.item(),
      solverDistance: maxAbsDiff(deqAux.z.toArray(), activations),
      gradDifference,
      gradNorm: norm(pairs.flatMap(([, b]) => b.toArray())),
    },
  };
}

const e = (v: number) => v.toExponential(2).padStart(12);

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await theorem();
  console.log('1. z_{k+1} = tanh(z_k W + x U + b) for L layers vs the DEQ z* = tanh(z* W + x U + b), ‖W‖₂ ≤ 0.6');
  console.log(`   DEQ: ${r.tied.solverIterations} Anderson iterations, residual ${r.tied.solverResidual.toExponential(1)}`);
  console.log('   depth L   ‖z_L − z*‖/‖z*‖   ‖∇_L − ∇*‖/‖∇*‖');
  for (const row of r.tied.rows) console.log(`   ${String(row.depth).padStart(7)}  ${e(row.distance)}      ${e(row.gradError)}`);
  const c = r.converse;
  console.log(`\n2. a ${c.widths.length - 1}-layer network (widths ${c.widths.join(' → ')}, its own weights per layer) as one DEQ layer`);
  console.log(`   over [z1 … z${c.widths.length - 1}]; the tutorial's W_z (output block i reads state block i − 1):`);
  for (const b of c.blocks) console.log(`     ${b}`);
  console.log('   iterations k   max |f(z̃_k) − z̃_k|   max |z̃_k − [z1 … zL]|');
  for (const row of c.rows) console.log(`   ${String(row.iterations).padStart(12)}   ${e(row.residual)}         ${e(row.distance)}`);
  console.log(`   fixedPoint (forward iteration): ${c.solverIterations} iterations, max |z̃* − activations| = ${c.solverDistance.toExponential(1)};`);
  console.log(`   implicit gradients (x, W_i, b_i) vs backprop through the deep network: largest relative difference ${c.gradDifference.toExponential(1)} (gradient norm ${c.gradNorm.toFixed(2)})`);
}
