/**
 * The MLP DEQ (row "anderson" of bench/peer.ts) written with another JavaScript framework, run by
 * bench/peer.ts in a fresh process and printed as one JSON line:
 *
 *   npx tsx bench/js_peer.ts '{"framework": "tfjs" | "jax", "threads": 1, "steps": 30, "warmup": 3, "evalBatches": 2}'
 *
 * Same model and algorithm as the library's `--model mlp` and the PyTorch peer's `mlp`:
 * Linear(784, 100) → z* = tanh(z* W + h) by Anderson (m 5, relative λ 1e-4 as the library's, tol 1e-4
 * on the largest per-sample relative residual, 50 iterations) → Linear(100, 10); the gradient by the
 * tutorial's backward hook: Anderson on w = Jᵀw + g with the same settings, then the parameters'
 * gradients through one application of the cell at z*. Adam 2e-3, global-norm clipping at 2,
 * batch 100, parameters initialised as PyTorch's Linear (uniform ±1/√fan_in, seeded).
 *
 * The framework-specific parts (tensors, autodiff, the cell's VJP, Adam) are in js_peer_tfjs.ts and
 * js_peer_jax.ts; the solver's small bordered system (n ≤ 5 unknowns per sample) is solved here on
 * the host for both, since TF.js has no linear solve. Each Anderson iteration reads back the
 * largest residual (as PyTorch's `.item()` does) to decide whether to stop.
 */
import { loadBundledDigits, batches } from '../src/train/data.js';
import { Rng } from '../src/core/random.js';

import { BATCH, EVAL_BATCH, type F32, initParams, type PeerImpl } from './js_peer_common.js';
import { median, rssMB } from './stats.js';

interface Config { framework: 'tfjs' | 'jax'; threads?: number; steps?: number; warmup?: number; evalBatches?: number; seed?: number }

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2] ?? '{}') as Config;
  if (c.framework !== 'tfjs' && c.framework !== 'jax') throw new Error('usage: js_peer.ts \'{"framework": "tfjs" | "jax", "threads": 1}\'');
  const data = loadBundledDigits();
  const params = initParams(c.seed ?? 0);
  const impl: PeerImpl = c.framework === 'tfjs'
    ? await (await import('./js_peer_tfjs.js')).makeTfjsPeer(params, c.threads ?? 1)
    : await (await import('./js_peer_jax.js')).makeJaxPeer(params, c.threads ?? 1);
  const base = rssMB();
  const steps = c.steps ?? 30;
  const times: number[] = [], fwd: number[] = [], bwd: number[] = [];
  let loss = NaN;
  for (let epoch = 0; times.length < steps; epoch++) {
    for (const { x, y } of batches(data.train, BATCH, { rng: new Rng(epoch + 1), dropLast: true })) {
      if (times.length >= steps) break;
      const labels = Int32Array.from(y.data as BigInt64Array, (v) => Number(v));
      const t0 = performance.now();
      const r = await impl.step(x.data as F32, labels);
      times.push(performance.now() - t0);
      fwd.push(r.fwd);
      bwd.push(r.bwd);
      loss = r.loss;
    }
  }
  const evalTimes: number[] = [], evalFwd: number[] = [];
  for (const { x } of batches(data.test, EVAL_BATCH, { dropLast: true })) {
    if (evalTimes.length >= (c.evalBatches ?? 2)) break;
    // the first call compiles the evaluation shapes: time the second
    if (!evalTimes.length) await impl.evaluate(x.data as F32, EVAL_BATCH);
    const t0 = performance.now();
    const e = await impl.evaluate(x.data as F32, EVAL_BATCH);
    evalTimes.push(performance.now() - t0);
    evalFwd.push(e.fwd);
  }
  const step = median(times.slice(Math.min(c.warmup ?? 3, times.length - 1)));
  const ev = median(evalTimes);
  process.stdout.write(`${JSON.stringify({
    side: impl.name, version: impl.version, row: 'anderson', threads: c.threads ?? 1, batch: BATCH, steps, warmup: c.warmup ?? 3,
    step_ms: step, s_per_1k: step / BATCH, step_ms_all: times, eval_batch: EVAL_BATCH, eval_ms: ev, eval_s_per_1k: ev / EVAL_BATCH,
    peak_rss_mb: rssMB(), base_rss_mb: base, fwd_iters: mean(fwd), bwd_iters: mean(bwd), eval_fwd_iters: mean(evalFwd), final_loss: loss,
  })}\n`);
}

await main();
