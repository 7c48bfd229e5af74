/**
 * The FLOP floor of a training step: the matrix products (and convolutions) its algorithm cannot
 * avoid, counted from the solves' iteration counts, at this CPU's sustained rate for those products
 * measured with onnxruntime-node.
 *
 *   npx tsx bench/flops.ts [--threads 1] [--conv-threads 2]     prints the measured rates as JSON
 *
 * Counted per training step (B samples, cell width d = 100, input 784, 10 classes; M = 2·B·d² for
 * one cell product, or the two 3×3 convolutions of the ResNet cell for conv):
 *   encoder/decoder: forward, and the weight gradients (no input gradient for the encoder)
 *   Anderson + implicit backward: (k_fwd + 2) cell evaluations (Anderson's two initial ones plus one
 *     per iteration), one evaluation at z* to linearise, (k_bwd + 2) VJPs w ↦ Jᵀw, one weight gradient
 *   forward iteration, backprop through the iterations: (k + 1) evaluations, and per evaluation
 *     one VJP for the input and one for the weights
 *   Newton (dense Jacobian): (k + 1) evaluations and k dense solves (LU: ⅔d³ + 2d² per sample); the
 *     tutorial's backward: one evaluation with autograd, one dense solve with Jᵀ, one weight
 *     gradient; the library's backward is an Anderson solve on VJPs, counted as above
 * Not counted: elementwise work, Anderson's own small products (GGᵀ and the mixing, about a quarter
 * of a cell product per iteration for the MLP), building the Jacobian, the optimizer. The floor is
 * therefore optimistic: a real step always costs more.
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type FloorKind = 'anderson' | 'unrolled' | 'newton-dense' | 'newton-anderson';
export interface FloorInput { row: 'fwd' | 'newton' | 'anderson' | 'conv'; kind: FloorKind; batch: number; fwd: number; bwd: number }
export interface Rates { mm_cell_gflops: number; mm_enc_gflops: number; conv_gflops: number; threads: number; conv_threads: number }

const D = 100, IN = 784, C = 10;
const CONV = { c: 48, inner: 64, hw: 28 * 28, k: 9 };

/** FLOPs of one step split by the rate that applies to them. */
export function stepFlops(s: FloorInput): { cell: number; enc: number; conv: number; total: number } {
  const B = s.batch;
  if (s.row === 'conv') {
    const cellF = 2 * B * CONV.hw * CONV.k * (CONV.c * CONV.inner * 2); // conv1 + conv2
    const stem = 2 * B * CONV.hw * CONV.k * CONV.c * 2; // forward + weight gradient (1 input channel)
    const conv = (s.fwd + 2) * cellF + cellF + (s.bwd + 2) * cellF + cellF + stem;
    const head = 3 * 2 * B * CONV.c * 16 * C;
    return { cell: head, enc: 0, conv, total: conv + head };
  }
  const M = 2 * B * D * D;
  const lu = B * ((2 / 3) * D ** 3 + 2 * D * D);
  const enc = 2 * (2 * B * IN * D);
  const dec = 3 * 2 * B * D * C;
  let cell: number;
  switch (s.kind) {
    case 'unrolled': cell = 3 * (s.fwd + 1) * M; break;
    case 'newton-dense': cell = (s.fwd + 1) * M + s.fwd * lu + M + lu + M; break;
    case 'newton-anderson': cell = (s.fwd + 1) * M + s.fwd * lu + M + (s.bwd + 2) * M + M; break;
    default: cell = (s.fwd + 2) * M + M + (s.bwd + 2) * M + M;
  }
  return { cell: cell + dec, enc, conv: 0, total: cell + dec + enc };
}

/** Seconds the step's FLOPs take at the measured rates. */
export function floorSeconds(f: ReturnType<typeof stepFlops>, r: Rates): number {
  return f.cell / (r.mm_cell_gflops * 1e9) + f.enc / (r.mm_enc_gflops * 1e9) + f.conv / (r.conv_gflops * 1e9);
}

const info = (name: string, shape: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } });

function model(inputs: { name: string; shape: number[] }[], nodes: Record<string, unknown>[], out: { name: string; shape: number[] }): Uint8Array {
  const m = {
    irVersion: 8, opsetImport: [{ domain: '', version: 18 }], producerName: 'deq-onnx-bench',
    graph: { name: 'rate', node: nodes, input: inputs.map((i) => info(i.name, i.shape)), output: [info(out.name, out.shape)] },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish();
}

function randn(n: number, scale: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: n }, () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return ((s / 2 ** 32) - 0.5) * scale; });
}

/** Median GFLOP/s of a chain of `n` products in one session.run (per-run overhead amortised). */
async function rate(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, flops: number, threads: number, runs: number): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } },
  });
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push((performance.now() - t0) / 1000);
  }
  await session.release();
  const t = [...times].sort((a, b) => a - b)[times.length >> 1]!;
  return flops / t / 1e9;
}

export async function measureRates(threads: number, convThreads: number): Promise<Rates> {
  const B = 100, n = 64;
  // z ← z W, 64 times: the cell's [100, 100] × [100, 100] product
  const cellNodes = Array.from({ length: n }, (_, i) => ({ opType: 'MatMul', input: [i ? `z${i}` : 'z', 'W'], output: [`z${i + 1}`] }));
  const mmCell = await rate(model([{ name: 'z', shape: [B, D] }, { name: 'W', shape: [D, D] }], cellNodes, { name: `z${n}`, shape: [B, D] }),
    { z: new ort.Tensor('float32', randn(B * D, 0.1), [B, D]), W: new ort.Tensor('float32', randn(D * D, 0.1), [D, D]) }, n * 2 * B * D * D, threads, 15);
  // [100, 784] × [784, 100] and back ([100, 100] × [100, 784]): the encoder's products
  const encNodes = Array.from({ length: n }, (_, i) => ({ opType: 'MatMul', input: [i ? `e${i}` : 'x', i % 2 ? 'U' : 'V'], output: [`e${i + 1}`] }));
  const mmEnc = await rate(model([{ name: 'x', shape: [B, IN] }, { name: 'V', shape: [IN, D] }, { name: 'U', shape: [D, IN] }], encNodes, { name: `e${n}`, shape: [B, IN] }),
    { x: new ort.Tensor('float32', randn(B * IN, 0.1), [B, IN]), V: new ort.Tensor('float32', randn(IN * D, 0.07), [IN, D]), U: new ort.Tensor('float32', randn(D * IN, 0.2), [D, IN]) },
    n * 2 * B * IN * D, threads, 15);
  // the ResNet cell's two convolutions, alternating 48 → 64 → 48 channels, batch 32, 28×28
  const nb = 32, nc = 8, attrs = [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }];
  const convNodes = Array.from({ length: nc }, (_, i) => ({ opType: 'Conv', input: [i ? `c${i}` : 'z', i % 2 ? 'K2' : 'K1'], output: [`c${i + 1}`], attribute: attrs }));
  const hw = [28, 28];
  const conv = await rate(model([{ name: 'z', shape: [nb, CONV.c, ...hw] }, { name: 'K1', shape: [CONV.inner, CONV.c, 3, 3] }, { name: 'K2', shape: [CONV.c, CONV.inner, 3, 3] }], convNodes, { name: `c${nc}`, shape: [nb, CONV.c, ...hw] }),
    {
      z: new ort.Tensor('float32', randn(nb * CONV.c * CONV.hw, 1), [nb, CONV.c, ...hw]),
      K1: new ort.Tensor('float32', randn(CONV.inner * CONV.c * 9, 0.05), [CONV.inner, CONV.c, 3, 3]),
      K2: new ort.Tensor('float32', randn(CONV.c * CONV.inner * 9, 0.05), [CONV.c, CONV.inner, 3, 3]),
    }, nc * 2 * nb * CONV.hw * CONV.k * CONV.c * CONV.inner, convThreads, 3);
  return { mm_cell_gflops: mmCell, mm_enc_gflops: mmEnc, conv_gflops: conv, threads, conv_threads: convThreads };
}

if (process.argv[1]?.endsWith('flops.ts')) {
  const arg = (name: string, d: number) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? Number(process.argv[i + 1]) : d; };
  process.stdout.write(`${JSON.stringify(await measureRates(arg('threads', 1), arg('conv-threads', 2)))}\n`);
}
