/**
 * What each stopping criterion costs on the conv DEQ: stop 'sample' (every sample's residual below
 * tol; the worst sample decides) against stop 'batch' (one norm over the batch, the tutorial's),
 * from the same initialisation and data order: iterations per solve in training and on the test
 * set, how many forward solves ended unconverged, test error, and time.
 *
 *   npx tsx bench/stop.ts [--model conv] [--epochs 1] [--train-limit 2000] [--test-limit 500] [--threads 1]
 *
 * Each criterion trains in its own child process (`trainRun`, the code behind `deq train`: Adam
 * 2e-3, clip 2, batch 32, no augmentation, seed 0) on the bundled digits. Times come from runs one
 * after the other, so they are only indicative on a shared machine; the iteration counts and test
 * errors do not depend on the load.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Evaluation, loadBundledDigits, trainRun, type EpochMetrics } from '../src/train/index.js';

const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};

interface Cfg { model: 'conv' | 'mlp'; stop: 'sample' | 'batch'; epochs: number; trainLimit: number; testLimit: number; threads: number }

async function child(c: Cfg): Promise<{ history: EpochMetrics[]; test: Evaluation }> {
  const run = trainRun({
    model: c.model, deq: { stop: c.stop }, optimizer: 'adam', schedule: 'constant', lr: 2e-3, clipNorm: 2, augment: 0,
    epochs: c.epochs, batchSize: c.model === 'conv' ? 32 : 100, seed: 0, trainLimit: c.trainLimit, testLimit: c.testLimit,
  }, loadBundledDigits(), { runtime: { intraOpNumThreads: c.threads } });
  const out = await run();
  if (out._tag === 'Left') throw out.left;
  return { history: out.right.history, test: out.right.test };
}

if (argv[0] === '--child') {
  process.stdout.write(`${JSON.stringify(await child(JSON.parse(argv[1]!) as Cfg))}\n`);
} else {
  const base = {
    model: flag('model', 'conv') as Cfg['model'], epochs: Number(flag('epochs', '1')), trainLimit: Number(flag('train-limit', '2000')),
    testLimit: Number(flag('test-limit', '500')), threads: Number(flag('threads', '1')),
  };
  console.log(`stop 'sample' vs 'batch' on the ${base.model} DEQ: ${base.epochs} epoch(s) of ${base.trainLimit} training digits, test on ${base.testLimit}; ${base.threads} thread(s); load average ${loadavg()[0]!.toFixed(2)} at the start`);
  console.log('| stop | epoch | train fwd / bwd iterations (mean per step) | unconverged forward solves | test fwd iterations | test error | train loss | seconds |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const stop of ['sample', 'batch'] as const) {
    const out = spawnSync(process.execPath, [...process.execArgv, self, '--child', JSON.stringify({ ...base, stop })], { encoding: 'utf8', maxBuffer: 1 << 22 });
    if (out.status !== 0) throw new Error(`${stop} failed:\n${out.stderr}`);
    const { history, test } = JSON.parse(out.stdout.trim().split('\n').pop()!) as { history: EpochMetrics[]; test: Evaluation };
    // the test set is evaluated once, after the last epoch
    history.forEach((m, i) => {
      const last = i === history.length - 1;
      const t = (v: string) => (last ? v : '–');
      console.log(`| ${stop} | ${m.epoch} | ${m.forwardIters.toFixed(2)} / ${m.backwardIters.toFixed(2)} | ${m.unconverged} of ${m.steps} | ${t(test.forwardIters.toFixed(2))} | ${t(`${(100 * test.error).toFixed(2)}%`)} | ${m.trainLoss.toFixed(4)} | ${m.seconds.toFixed(0)} |`);
    });
  }
  console.log(`load average ${loadavg()[0]!.toFixed(2)} at the end`);
}
