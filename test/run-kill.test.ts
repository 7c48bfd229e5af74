/**
 * A run stopped between its two per-epoch writes (the checkpoint and metrics.json): simulated by
 * making the second of the two renames of an epoch fail, as a kill right before it would.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it, vi } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { trainRun, type EpochMetrics, type TrainConfig } from '../src/train/run.js';
import { tinySplit } from './helpers/tiny-data.js';

/** When armed, the second rename onto one of `files` fails. */
const fault = vi.hoisted(() => ({ files: [] as string[], renames: 0 }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const rename = async (from: string, to: string) => {
    if (fault.files.includes(to) && ++fault.renames === 2) {
      fault.files = [];
      throw Object.assign(new Error('killed before the rename'), { code: 'EINTR' });
    }
    return fs.rename(from, to);
  };
  return { ...fs, rename, default: { ...fs, rename } };
});

const config: TrainConfig = { model: 'mlp', deq: {}, optimizer: 'adam', schedule: 'cosine', lr: 2e-3, epochs: 3, batchSize: 16, seed: 3 };
const epochsIn = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { history: EpochMetrics[] }).history.length;
const checkpointEpochs = (file: string) => {
  const ck = loadCheckpoint(file);
  if (E.isLeft(ck)) throw ck.left;
  return (ck.right.meta.history as unknown[]).length;
};

describe('a run stopped between writing metrics.json and the checkpoint', () => {
  it('leaves metrics.json ahead of the checkpoint, never behind; resume resyncs it and reproduces the uninterrupted run', async () => {
    const data = tinySplit();
    const whole = await trainRun(config, data)();
    if (E.isLeft(whole)) throw whole.left;

    const out = mkdtempSync(join(tmpdir(), 'deq-kill-'));
    const ckPath = join(out, 'checkpoint.deq');
    const metrics = join(out, 'metrics.json');
    // epoch 1 completes; epoch 2 dies between its two writes, whichever comes first
    let epochs = 0;
    const stopped = await trainRun(config, data, {
      outDir: out,
      onEpoch: () => { if (++epochs === 1) Object.assign(fault, { files: [ckPath, metrics], renames: 0 }); },
    })();
    expect(E.isLeft(stopped)).toBe(true);
    expect(checkpointEpochs(ckPath)).toBe(1);
    expect(epochsIn(metrics)).toBeGreaterThanOrEqual(checkpointEpochs(ckPath));

    let resyncedTo = -1;
    const resumed = await trainRun(config, data, {
      outDir: out,
      resume: true,
      onResume: () => { resyncedTo = epochsIn(metrics); },
    })();
    if (E.isLeft(resumed)) throw resumed.left;
    expect(resyncedTo).toBe(1);
    expect(epochsIn(metrics)).toBe(3);
    expect(checkpointEpochs(ckPath)).toBe(3);
    const strip = (h: EpochMetrics[]) => h.map(({ seconds: _s, ...m }) => m);
    expect(strip(resumed.right.history)).toEqual(strip(whole.right.history));
  }, 60_000);
});
