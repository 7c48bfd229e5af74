/**
 * The command line of the research items: `deq train`'s regularisation flags (parsed, ranged,
 * refused in combinations that cannot apply) and `deq eval` on a checkpoint, its per-sample numbers
 * checked against solving samples one at a time and its distribution against the per-sample lists.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../src/cli/args.js';
import { runCli } from '../src/cli/cli.js';
import type { EvalReport } from '../src/cli/eval.js';
import { trainConfigFromFlags, trainSpec } from '../src/cli/train.js';
import { fixedPointHost, jit, Tensor, type Value } from '../src/index.js';
import { tanhCell } from '../src/nn/index.js';
import { buildModel, loadCheckpoint, loadData, quantile, type TrainConfig } from '../src/train/index.js';
import { writeIdxFolder } from './helpers/tiny-data.js';
import { capture } from './helpers/cli-io.js';


const configOf = (argv: string[]): TrainConfig => {
  const f = parseFlags(trainSpec, argv);
  if (E.isLeft(f)) throw f.left;
  const c = trainConfigFromFlags(f.right);
  if (E.isLeft(c)) throw c.left;
  return c.right.config;
};

describe('deq train: regularisation flags', () => {
  it('reach the training configuration', () => {
    expect(configOf(['--jac-reg', '0.5', '--jac-reg-freq', '0.25', '--jac-reg-samples', '2'])).toMatchObject({ jacReg: 0.5, jacRegFreq: 0.25, jacRegSamples: 2 });
    expect(configOf(['--weight-norm']).normalize).toBe('weight');
    expect(configOf(['--spectral-norm', '--spectral-scale', '0.8'])).toMatchObject({ normalize: 'spectral', spectralScale: 0.8 });
    const plain = configOf([]);
    for (const k of ['jacReg', 'jacRegFreq', 'normalize', 'spectralScale'] as const) expect(plain[k]).toBeUndefined();
    // --jac-reg 0 is off
    expect(configOf(['--jac-reg', '0']).jacReg).toBeUndefined();
  });

  const refused: [string[], RegExp][] = [
    [['--jac-reg', '-1'], /--jac-reg must be from 0 to 100, got -1/],
    [['--jac-reg', '1e3'], /--jac-reg must be from 0 to 100/],
    [['--jac-reg', '1', '--jac-reg-freq', '0'], /--jac-reg-freq must be above 0, at most 1, got 0/],
    [['--jac-reg', '1', '--jac-reg-freq', '1.5'], /--jac-reg-freq must be above 0, at most 1/],
    [['--jac-reg', '1', '--jac-reg-samples', '0'], /--jac-reg-samples must be a whole number from 1 to 64/],
    [['--jac-reg-freq', '0.5'], /--jac-reg-freq only applies with --jac-reg above 0; add --jac-reg λ/],
    [['--jac-reg', '0', '--jac-reg-samples', '3'], /--jac-reg-samples only applies with --jac-reg above 0/],
    [['--weight-norm', '--spectral-norm'], /--weight-norm and --spectral-norm exclude each other; choose one/],
    [['--spectral-scale', '0.9'], /--spectral-scale only applies with --spectral-norm; add --spectral-norm/],
    [['--spectral-norm', '--spectral-scale', '0'], /--spectral-scale must be above 0, at most 10, got 0/],
    [['--weight-norm=maybe'], /--weight-norm is a switch/],
  ];
  for (const [argv, message] of refused) {
    it(`refuses ${argv.join(' ')} before anything loads`, async () => {
      const io = capture();
      expect(await runCli(['train', ...argv, '--data', '/nonexistent-data-folder'], io)).toBe(2);
      expect(io.stderr.join('\n')).toMatch(message);
      expect(io.stdout).toEqual([]);
    });
  }

  it('--help lists them with their ranges', async () => {
    const io = capture();
    expect(await runCli(['train', '--help'], io)).toBe(0);
    const help = io.stdout.join('\n');
    expect(help).toMatch(/--jac-reg λ +add λ·‖∂f\/∂z‖²_F .* \[0 to 100\]/);
    expect(help).toMatch(/--jac-reg-freq P .*\[above 0, at most 1\] \(default: 1\)/);
    expect(help).toMatch(/--weight-norm +weight normalisation/);
    expect(help).toMatch(/--spectral-scale X .*\[above 0, at most 10\] \(default: 1\)/);
  });
});

describe('deq eval', () => {
  const root = mkdtempSync(join(tmpdir(), 'deq-eval-'));
  const dataDir = writeIdxFolder(join(root, 'data'), 96, 40, 8, 3);
  const out = join(root, 'run');
  let report: EvalReport;

  beforeAll(async () => {
    const io = capture();
    expect(await runCli(['train', '--data', dataDir, '--epochs', '2', '--batch', '16', '--spectral-norm', '--jac-reg', '0.5', '--out', out], io)).toBe(0);
    const json = capture();
    expect(await runCli(['eval', '--out', out, '--json'], json)).toBe(0);
    report = JSON.parse(json.stdout.join('\n')) as EvalReport;
  }, 120_000);

  it('reports the test error of the run\'s final evaluation and every sample\'s solve', () => {
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { test: { error: number; samples: number } };
    expect(report.split).toBe('test');
    expect(report.samples).toBe(40);
    expect(report.error).toBe(metrics.test.error);
    expect(report).toMatchObject({ model: 'mlp', solver: 'anderson', tol: 1e-4, maxIter: 50, epochs: 2 });
    expect(report.perSample.iterations).toHaveLength(40);
    expect(report.perSample.relResidual).toHaveLength(40);
  });

  it('its distribution is that of the per-sample numbers', () => {
    const { iterations: it, relResidual: rr } = report.perSample;
    const sorted = [...it].sort((a, b) => a - b);
    // 40 samples: the median lies half-way between the 20th and 21st, p90 at 0.1 of the way from the 36th to the 37th
    expect(report.iterations.median).toBeCloseTo((sorted[19]! + sorted[20]!) / 2, 12);
    expect(report.iterations.p90).toBeCloseTo(sorted[35]! + 0.1 * (sorted[36]! - sorted[35]!), 12);
    expect(report.iterations.max).toBe(sorted[39]);
    expect(report.iterations.mean).toBeCloseTo(it.reduce((a, b) => a + b, 0) / 40, 12);
    expect(report.relResidual.max).toBe(Math.max(...rr));
    expect(report.relResidual.median).toBe(quantile(rr, 0.5));
    expect(report.notConverged).toBe(rr.filter((r) => !(r < 1e-4)).length);
    expect(report.notConvergedShare).toBe(report.notConverged / 40);
    // the batch solve runs until its slowest sample is done
    expect(report.batchIterations).toBeGreaterThanOrEqual(Math.max(...it) - 1e-9);
  });

  it('its per-sample numbers are those of solving each sample alone', async () => {
    const ck = loadCheckpoint(join(out, 'checkpoint.deq'));
    if (E.isLeft(ck)) throw ck.left;
    const config = ck.right.meta.config as TrainConfig;
    const model = buildModel(config, { channels: 1, size: 8 });
    const { params, state } = ck.right.trees as { params: unknown; state: unknown };
    const test = loadData(dataDir);
    if (E.isLeft(test)) throw test.left;
    const parts = jit((p: unknown, s: unknown, x: Value) => {
      const d = model.deqParts!(p, s, x);
      return { input: d.input, cellParams: d.cellParams as Value };
    });
    const images = test.right.test.images;
    for (let i = 0; i < 6; i++) {
      const x = new Tensor('float32', [1, 1, 8, 8], (images.data as Float32Array).slice(i * 64, (i + 1) * 64));
      const { input, cellParams } = (await parts(params, state, x)) as { input: Tensor; cellParams: { W: Tensor } };
      const alone = await fixedPointHost(tanhCell, new Tensor('float32', input.shape), [input, cellParams], { solver: 'anderson', tol: 1e-4, maxIter: 50 });
      const r = E.isRight(alone.outcome) ? alone.outcome.right : alone.outcome.left;
      expect(report.perSample.iterations[i]).toBe(r.iterations);
      expect(Math.abs(report.perSample.relResidual[i]! - r.relResidual)).toBeLessThan(1e-2 * r.relResidual);
    }
  }, 60_000);

  it('takes the solver, tolerance and limit from its flags, and prints the table', async () => {
    const io = capture();
    expect(await runCli(['eval', '--out', out, '--solver', 'forward', '--tol', '1e-7', '--max-iter', '4', '--limit', '20', '--batch', '7'], io)).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toMatch(/20 test samples/);
    expect(text).toMatch(/solver forward, tolerance 1e-7 on the relative residual, at most 4 iterations, batch 7/);
    expect(text).toMatch(/^iterations +4 +4 +4 +4$/m);
    expect(text).toMatch(/not converged: 100\.00% \(20 of 20\)/);
    const json = capture();
    expect(await runCli(['eval', '--out', out, '--split', 'validation', '--json'], json)).toBe(0);
    const val = JSON.parse(json.stdout.join('\n')) as EvalReport;
    // 12 of the 96 training images are held out
    expect(val).toMatchObject({ split: 'validation', samples: 12 });
  }, 60_000);

  it('refuses a folder without a checkpoint, and bad flags', async () => {
    const io = capture();
    expect(await runCli(['eval', '--out', join(root, 'nothing-here')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/cannot read checkpoint .*train one with deq train --out DIR/);
    const bad = capture();
    expect(await runCli(['eval', '--out', out, '--tol', '0'], bad)).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/--tol must be above 0, at most 1, got 0/);
    const split = capture();
    expect(await runCli(['eval', '--split', 'train'], split)).toBe(2);
    expect(split.stderr.join('\n')).toMatch(/--split must be one of test, validation/);
  });
});


