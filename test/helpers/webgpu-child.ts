/** Run in a child process (the Vulkan driver is chosen by environment variables at start-up). */
import { fixedPoint, jit, np, Rng } from '../../src/index.js';
import { nodePlacement } from '../../src/extend.js';

const rng = new Rng(0);
const W = rng.randn([64, 64], 'float32', 0.05);
const x = rng.randn([16, 64], 'float32');
const solve = (W: any, x: any) => {
  const r = fixedPoint((z: any, x: any, W: any) => np.tanh(np.add(np.matmul(z, W), x)), np.zerosLike(x), [x, W], { solver: 'forward', tol: 1e-4, maxIter: 50 });
  return [r.value, r.stats.iterations];
};
const gpu = jit(solve, { executionProviders: ['webgpu', 'cpu'] });
const cpu = jit(solve, { executionProviders: ['cpu'] });
const compiled = await gpu.compile(W, x);
const provider = compiled.session.provider;
const [zg, ig] = await gpu(W, x);
const [zc, ic] = await cpu(W, x);
const diff = Math.max(...zg.toArray().map((v: number, i: number) => Math.abs(v - zc.toArray()[i]!)));
// where each node actually ran: the session's provider only names the first provider that loaded
const placed = await nodePlacement(compiled.model, [W, x], { executionProviders: ['webgpu', 'cpu'] });
const placedDiff = Math.max(...placed.outputs[0]!.toArray().map((v: number, i: number) => Math.abs(v - zc.toArray()[i]!)));
const nodes = placed.nodes.map((n) => ({ op: n.opType, provider: n.provider }));
console.log(JSON.stringify({ provider, diff, itersGpu: ig.item(), itersCpu: ic.item(), placedDiff, nodes }));
