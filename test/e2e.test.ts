import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { loadBundledDigits, trainRun, type TrainConfig } from '../src/train/index.js';

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
