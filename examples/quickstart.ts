/**
 * The README's example, runnable: a tanh fixed-point layer trained one step with implicit gradients.
 *   npx tsx examples/quickstart.ts
 */
import { fixedPoint, jit, np, Rng, tensor, type Tensor, valueAndGrad, type Value } from '../src/index.js';

const cell = (z: Value, x: Value, p: { W: Value }) => np.tanh(np.add(np.matmul(z, p.W), x));
const deq = (x: Value, p: { W: Value }) =>
  fixedPoint(cell, np.zerosLike(x), [x, p], { solver: 'anderson', tol: 1e-4, maxIter: 50, backward: 'implicit' });
const loss = (p: { W: Value; V: Value }, x: Value, y: Value) => np.crossEntropy(np.matmul(deq(x, p).value, p.V), y);

export interface QuickstartResult {
  before: number;
  after: number;
  gradNorm: number;
  /** The data and parameters of the step, and the gradient it took (for checking it). */
  params: { W: Tensor; V: Tensor };
  x: Tensor;
  y: Tensor;
  grads: { W: Tensor; V: Tensor };
}

export async function quickstart(): Promise<QuickstartResult> {
  const step = jit(valueAndGrad(loss)); // one compiled ONNX graph: solve + implicit backward
  const rng = new Rng(0);
  const p = { W: rng.randn([100, 100], 'float32', 0.05), V: rng.randn([100, 10], 'float32', 0.1) };
  const x = rng.randn([32, 100]);
  const y = tensor(Array.from({ length: 32 }, (_, i) => i % 10), 'int64');
  const [l0, g] = await step(p, x, y);
  // one plain gradient step on the host
  const upd = (w: any, gw: any) => tensor(Array.from(w.data as Float32Array, (v, i) => v - 0.5 * (gw.data as Float32Array)[i]!), 'float32', w.shape);
  const [l1] = await step({ W: upd(p.W, g.W), V: upd(p.V, g.V) }, x, y);
  const gradNorm = Math.hypot(...g.W.toArray(), ...g.V.toArray());
  return { before: l0.item(), after: l1.item(), gradNorm, params: p, x, y, grads: g };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await quickstart();
  console.log(`loss ${r.before.toFixed(4)} -> ${r.after.toFixed(4)} after one step (|grad| = ${r.gradNorm.toFixed(4)})`);
}
