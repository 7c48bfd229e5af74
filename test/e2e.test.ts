import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { loadBundledDigits, trainRun, type TrainConfig } from '../src/train/index.js';
import { writeIdxFolder } from './helpers/tiny-data.js';

describe('training the MLP DEQ end to end', () => {
  it('lowers the loss on 512 digits, checkpoints every epoch, resumes, and plots residuals', async () => {
    const data = loadBundledDigits();
    const out = mkdtempSync(join(tmpdir(), 'deq-e2e-'));
    const config: TrainConfig = {
      model: 'mlp', deq: { solver: 'anderson' }, optimizer: 'adam', schedule: 'constant', lr: 2e-3,
      epochs: 2, batchSize: 64, seed: 0, trainLimit: 512, testLimit: 500, dataSpec: 'mnist',
    };
    const skipped: string[] = [];
    const first = await trainRun(config, data, { outDir: out, onSkip: (_e, _b, why) => skipped.push(why) })();
    if (E.isLeft(first)) throw first.left;
    const [e1, e2] = first.right.history;
    expect(e2!.trainLoss).toBeLessThan(e1!.trainLoss);
    expect(e2!.valError).toBeLessThan(0.5);
    expect(e1!.forwardIters).toBeGreaterThan(1);
    expect(e1!.backwardIters).toBeGreaterThan(1);
    expect(skipped).toEqual([]);
    expect(existsSync(join(out, 'checkpoint.deq'))).toBe(true);

    let resumedAt = -1;
    const again = await trainRun({ ...config, epochs: 3 }, data, { outDir: out, resume: true, onResume: (e) => { resumedAt = e; } })();
    if (E.isLeft(again)) throw again.left;
    expect(resumedAt).toBe(2);
    expect(again.right.history.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(again.right.history[0]).toEqual(e1);

    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), status: () => {}, isTTY: false };
    expect(await runCli(['plot', '--out', out, '--batch', '50', '--tol', '1e-5', '--max-iter', '40'], io)).toBe(0);
    const png = PNG.sync.read(readFileSync(join(out, 'residuals.png')));
    const svg = readFileSync(join(out, 'residuals.svg'), 'utf8');
    expect(svg).toContain(`width="${png.width}" height="${png.height}"`);
    expect(svg).toContain('<polyline');
    expect(svg).toContain('Backward');
    const traces = JSON.parse(readFileSync(join(out, 'residuals.json'), 'utf8')) as { forward: number[]; backward: number[] };
    expect(traces.forward.length).toBeGreaterThan(2);
    expect(traces.forward[traces.forward.length - 1]!).toBeLessThan(traces.forward[0]!);
    expect(traces.backward[traces.backward.length - 1]!).toBeLessThan(traces.backward[0]!);
  }, 120_000);
});

describe('deq train reports validation error per epoch and test error once', () => {
  const train = async (args: string[]) => {
    const out: string[] = [], err: string[] = [];
    const code = await runCli(['train', '--augment', '0', '--batch', '16', ...args], { out: (l) => out.push(l), err: (l) => err.push(l), status: () => {}, isTTY: false });
    return { code, out, err };
  };

  it('per-epoch lines and metrics on the held-out validation set; the test set evaluated once, printed once and stored', async () => {
    const data = writeIdxFolder(mkdtempSync(join(tmpdir(), 'val-data-')), 96, 32);
    const dir = join(mkdtempSync(join(tmpdir(), 'val-run-')), 'run');
    const r = await train(['--data', data, '--epochs', '2', '--validation', '16', '--out', dir]);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('validation: 16 training images held out (fixed seed); training on 80');
    const epochs = r.out.filter((l) => l.startsWith('Epoch '));
    expect(epochs).toHaveLength(2);
    for (const l of epochs) {
      expect(l).toMatch(/\| Val Error: \d\.\d{4}, Loss: \d+\.\d{4}, FP Iters: /);
      expect(l).not.toMatch(/test/i);
    }
    const tests = r.out.filter((l) => /test error/i.test(l));
    expect(tests).toHaveLength(1);
    expect(tests[0]).toMatch(/^\s*final test error \d+\.\d\d% on 32 test images \(evaluated once, after the last epoch\) · validation error \d+\.\d\d%/);
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { config: TrainConfig; history: Record<string, number>[]; test: { error: number; samples: number } };
    expect(metrics.config.validation).toBe(16);
    expect(metrics.test.samples).toBe(32);
    expect(tests[0]).toContain(`${(metrics.test.error * 100).toFixed(2)}%`);
    expect(metrics.history.map((m) => Object.keys(m).filter((k) => /test/i.test(k)))).toEqual([[], []]);
    expect(metrics.history.every((m) => m.valError! >= 0 && m.valError! <= 1)).toBe(true);

    // resuming with another validation set would mix it into training
    const again = await train(['--data', data, '--epochs', '3', '--validation', '8', '--out', dir, '--resume']);
    expect(again.code).toBe(2);
    expect(again.err.join('\n')).toMatch(/held out a validation set of 16; resume with the same one .*--validation/);
  });

  it('--validation 0 trains on every training image and leaves the validation columns out of the epoch lines', async () => {
    const data = writeIdxFolder(mkdtempSync(join(tmpdir(), 'val-data-')), 64, 16);
    const r = await train(['--data', data, '--epochs', '1', '--validation', '0', '--out', join(mkdtempSync(join(tmpdir(), 'val-run-')), 'run')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('validation: none (--validation 0); training on 64');
    const epoch = r.out.find((l) => l.startsWith('Epoch '))!;
    expect(epoch).not.toMatch(/Val Error|Test/);
    expect(r.out.filter((l) => /test error/i.test(l))).toHaveLength(1);
  });
});
