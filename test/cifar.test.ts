/**
 * CIFAR-10 binary files: the reader on small files in the real format (written here: a label byte
 * and 3,072 pixel bytes per record), its errors, and the tutorial's CIFAR model built for
 * 3×32×32 input training on them, through `deq train --data DIR` too.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { InputError, jit, Rng, type Tensor, type Value } from '../src/index.js';
import { makeModel } from '../src/nn/index.js';
import { adam, batches, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, loadCifarFolder, loadData, makeTrainer, readCifarFiles } from '../src/train/index.js';
import { runCli } from '../src/cli/cli.js';
import { capture } from './helpers/cli-io.js';

/** Record r of file f: label (r + f) % 10; pixel (c, y, x) = (7f + 3r + 11c + 5y + x) % 256. */
const pixelAt = (f: number, r: number, c: number, y: number, x: number) => (7 * f + 3 * r + 11 * c + 5 * y + x) % 256;
function cifarBytes(f: number, records: number): Uint8Array {
  const out = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) {
    out[r * 3073] = (r + f) % 10;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[r * 3073 + 1 + c * 1024 + y * 32 + x] = pixelAt(f, r, c, y, x);
  }
  return out;
}

/** A CIFAR-10 folder: five training files of `perFile` records (file index 1..5) and a test file (index 0). */
function cifarFolder(perFile = 3, testRecords = 2): string {
  const dir = mkdtempSync(join(tmpdir(), 'cifar-'));
  CIFAR_TRAIN_FILES.forEach((name, i) => writeFileSync(join(dir, name), cifarBytes(i + 1, perFile)));
  writeFileSync(join(dir, CIFAR_TEST_FILE), cifarBytes(0, testRecords));
  return dir;
}

const right = <A>(e: E.Either<Error, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};
const leftMessage = <A>(e: E.Either<Error, A>): string => {
  if (E.isRight(e)) throw new Error('expected an error');
  expect(e.left).toBeInstanceOf(InputError);
  return e.left.message;
};

describe('CIFAR-10 binary reader', () => {
  it('reads the five training files in order and the test file: [N, 3, 32, 32] in [0, 1], labels int64', () => {
    const split = right(loadCifarFolder(cifarFolder()));
    expect(split.train.images.shape).toEqual([15, 3, 32, 32]);
    expect(split.test.images.shape).toEqual([2, 3, 32, 32]);
    expect(split.train.images.dtype).toBe('float32');
    expect(split.train.labels.dtype).toBe('int64');
    expect(split.train.labels.toArray()).toEqual([1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6, 5, 6, 7]);
    expect(split.test.labels.toArray()).toEqual([0, 1]);
    // image n of the train set is record n % 3 of file n / 3 + 1; channel-major, then rows
    const px = split.train.images.data as Float32Array;
    for (const [n, c, y, x] of [[0, 0, 0, 0], [4, 1, 2, 3], [14, 2, 31, 31], [7, 2, 17, 0]] as const) {
      const want = pixelAt(Math.floor(n / 3) + 1, n % 3, c, y, x) / 255;
      expect(px[((n * 3 + c) * 32 + y) * 32 + x]).toBeCloseTo(want, 7);
    }
    expect(Math.max(...px.subarray(0, 3072))).toBeLessThanOrEqual(1);
  });

  it('loadData picks CIFAR-10 for a folder holding data_batch_1.bin, or its parent', () => {
    const dir = cifarFolder(2, 1);
    expect(right(loadData(dir)).train.images.shape).toEqual([10, 3, 32, 32]);
    const parent = mkdtempSync(join(tmpdir(), 'cifar-parent-'));
    const inner = join(parent, 'cifar-10-batches-bin');
    mkdirSync(inner);
    CIFAR_TRAIN_FILES.forEach((name, i) => writeFileSync(join(inner, name), cifarBytes(i, 1)));
    writeFileSync(join(inner, CIFAR_TEST_FILE), cifarBytes(0, 1));
    const split = right(loadData(parent));
    expect(split.train.labels.shape).toEqual([5]);
    expect(split.source).toContain('cifar-10-batches-bin');
  });

  it('a missing file, a size that is not whole records and a label over 9 are errors naming the file and the fix', () => {
    const missing = cifarFolder();
    rmSync(join(missing, 'data_batch_3.bin'));
    expect(leftMessage(loadData(missing))).toMatch(/no data_batch_3\.bin; .*cifar-10-binary\.tar\.gz/);

    const cut = cifarFolder();
    writeFileSync(join(cut, 'data_batch_2.bin'), cifarBytes(2, 3).subarray(0, 3 * 3073 - 100));
    expect(leftMessage(loadData(cut))).toMatch(/data_batch_2\.bin: 9119 bytes is not a positive multiple of the 3073-byte CIFAR-10 record/);

    const hundred = cifarFolder();
    writeFileSync(join(hundred, CIFAR_TEST_FILE), new Uint8Array(2 * 3074));
    expect(leftMessage(loadData(hundred))).toMatch(/test_batch\.bin: .*CIFAR-100/);

    const empty = cifarFolder();
    writeFileSync(join(empty, 'data_batch_5.bin'), new Uint8Array(0));
    expect(leftMessage(loadData(empty))).toMatch(/data_batch_5\.bin: 0 bytes/);

    const badLabel = cifarFolder();
    const bytes = cifarBytes(4, 3);
    bytes[2 * 3073] = 12;
    writeFileSync(join(badLabel, 'data_batch_4.bin'), bytes);
    expect(leftMessage(loadData(badLabel))).toMatch(/data_batch_4\.bin: record 2 has label 12; CIFAR-10 labels are 0\.\.9/);

    expect(leftMessage(readCifarFiles([join(tmpdir(), 'no-such-cifar', 'test_batch.bin')]))).toMatch(/missing/);
  });
});

describe("the tutorial's CIFAR-10 model on 3×32×32 input", () => {
  it('is Conv(3→48) → BatchNorm → DEQ(ResNetLayer(48, 64)) → BatchNorm → AvgPool(8) → Linear(768, 10), and a training step on CIFAR-format data lowers the loss', async () => {
    const split = right(loadData(cifarFolder(2, 2)));
    const model = makeModel('conv', {}, { channels: 3, size: 32 });
    const { params, state } = model.init(new Rng(0));
    const p = params as { stem: { W: Tensor; b: Tensor }; cell: { conv1: { W: Tensor }; conv2: { W: Tensor } }; head: { W: Tensor } };
    expect(p.stem.W.shape).toEqual([48, 3, 3, 3]);
    expect(p.cell.conv1.W.shape).toEqual([64, 48, 3, 3]);
    expect(p.cell.conv2.W.shape).toEqual([48, 64, 3, 3]);
    // 32×32 pooled by 8 → 4×4: the head takes 48·4·4 = 768 features
    expect(p.head.W.shape).toEqual([768, 10]);
    const opt = adam();
    const trainer = makeTrainer(model, opt);
    const { x, y } = batches(split.train, 4).next().value!;
    const first = await trainer.step(params, state, opt.init(params), x, y, 1e-3);
    expect(first.report.skipped).toBeNull();
    expect(first.report.forward!.iterations).toBeGreaterThan(1);
    const second = await trainer.step(first.params, first.state, first.optState, x, y, 1e-3);
    expect(second.report.loss).toBeLessThan(first.report.loss);
    const logits = (await jit((q: unknown, s: unknown, x: Value) => model.apply(q, s, x, { train: false }).logits)(second.params, second.state, x)) as Tensor;
    expect(logits.shape).toEqual([4, 10]);
  });

  it('deq train --data DIR --model conv trains and tests on a CIFAR-10 folder', async () => {
    const dir = cifarFolder(2, 2);
    const out = mkdtempSync(join(tmpdir(), 'cifar-run-'));
    const io = capture();
    const { stdout, stderr } = io;
    const code = await runCli(['train', '--data', dir, '--model', 'conv', '--epochs', '1', '--batch', '5', '--augment', '0', '--threads', '2', '--out', out], io);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    const text = stdout.join('\n');
    expect(text).toContain('data: CIFAR-10');
    expect(text).toContain('10 train / 2 test images');
    expect(text).toMatch(/final test error \d+\.\d\d%/);
  });
});
