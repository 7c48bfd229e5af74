/**
 * Importing a PyTorch cell and training its weights: the tutorial's ResNetLayer (Conv, GroupNorm
 * as PyTorch exports it, ReLU) from an .onnx file becomes a DEQ cell; its initializers are the
 * params, gradients come back under their ONNX names and in their ONNX layouts, and a few Adam
 * steps on the implicit gradients lower a loss.
 *   npx tsx examples/import-torch.ts
 */
import { readFileSync } from 'node:fs';
import { fixedPoint, importOnnx, jit, np, Rng, type Tensor, train, valueAndGrad, type Value } from '../src/index.js';

// made by scripts/make-zoo.py: torch.onnx.export(ResNetLayer(8, 16, groups=4), (z, x), ..., opset_version=17,
// input_names=['z', 'x'], output_names=['z_next'], dynamic_axes={'z': {0: 'batch'}, 'x': {0: 'batch'}, ...})
const MODEL = new URL('../test/fixtures/zoo/resnet_groupnorm.opset17.float32.onnx', import.meta.url);

export async function importTorch(steps = 5): Promise<{ params: string[]; losses: number[]; converged: boolean }> {
  const m = importOnnx(new Uint8Array(readFileSync(MODEL)), 'resnet_groupnorm.onnx');
  // the cell: z_next = f(z, x) with the file's weights replaced by `p` (an object keyed by ONNX name)
  const cell = (z: Value, x: Value, p: Record<string, Value>) => m.apply(p, z, x)[0]!;

  const rng = new Rng(0);
  const x = rng.randn([4, 8, 6, 6]);
  const target = rng.randn([4, 8, 6, 6], 'float32', 0.5);
  const loss = (p: Record<string, Value>, x: Value, y: Value) => {
    const { value, stats } = fixedPoint(cell, np.zerosLike(x), [x, p], { solver: 'anderson', tol: 1e-5, maxIter: 60 });
    const d = np.sub(value, y);
    return [np.mean(np.mul(d, d)), stats.converged];
  };
  // one compiled graph: the solve, and the implicit gradient with respect to every initializer
  const step = jit(valueAndGrad(loss, { hasAux: true }));
  const adam = train.adam();
  let params = m.params as Record<string, Tensor>;
  let state = adam.init(params);
  const losses: number[] = [];
  let converged = true;
  for (let i = 0; i < steps; i++) {
    const [[l, ok], grads] = (await step(params, x, target)) as [[Tensor, Tensor], Record<string, Tensor>];
    losses.push(l.item());
    converged &&= ok.item() === 1;
    ({ params, state } = adam.update(params, grads, state, 3e-3) as { params: Record<string, Tensor>; state: typeof state });
  }
  return { params: Object.keys(m.params), losses, converged };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await importTorch();
  console.log(`initializers trained by name: ${r.params.join(', ')}`);
  console.log(`loss ${r.losses.map((l) => l.toFixed(5)).join(' -> ')} (every solve converged: ${r.converged})`);
}
