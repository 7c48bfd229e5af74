import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index.js';
import { idxBytes } from './helpers/tiny-data.js';
import { batches, datasetFromIdx, loadBundledDigits, loadData, loadIdxFolder, parseIdx, type IdxArray } from '../src/train/data.js';
import { requireOrSkip } from './support/require.js';
import { capture } from './helpers/cli-io.js';


const right = <A>(e: E.Either<Error, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};

describe('idx reader', () => {
  const pixels = [0, 255, 51, 102, 1, 2, 3, 4, 10, 20, 30, 40];
  const images = idxBytes([3, 2, 2], pixels);
  const labels = idxBytes([3], [7, 0, 9]);

  it('reads plain and gzipped files to the same arrays', () => {
    const a = right(parseIdx(images));
    const b = right(parseIdx(new Uint8Array(gzipSync(images))));
    expect(a.dims).toEqual([3, 2, 2]);
    expect(Array.from(a.data)).toEqual(pixels);
    expect(b.dims).toEqual(a.dims);
    expect(Array.from(b.data)).toEqual(pixels);
  });

  it('scales images to [0, 1] float32 [N, 1, H, W] and labels to int64', () => {
    const ds = right(datasetFromIdx(right(parseIdx(images)), right(parseIdx(labels))));
    expect(ds.images.shape).toEqual([3, 1, 2, 2]);
    expect(ds.images.dtype).toBe('float32');
    expect(ds.images.data[1]).toBe(1);
    expect(ds.images.data[2]).toBeCloseTo(0.2, 6);
    expect(ds.labels.dtype).toBe('int64');
    expect(ds.labels.toArray()).toEqual([7, 0, 9]);
  });

  it('rejects truncated files, bad magic numbers and mismatched counts with a fix in the message', () => {
    const trunc = parseIdx(images.slice(0, images.length - 3), 'x.idx');
    expect(E.isLeft(trunc) && trunc.left.message).toMatch(/x\.idx: truncated.*download it again/);
    const magic = parseIdx(new Uint8Array([1, 2, 3, 4, 5]), 'y');
    expect(E.isLeft(magic) && magic.left.name).toBe('InputError');
    const two = right(parseIdx(idxBytes([2], [1, 2])));
    const mismatch = datasetFromIdx(right(parseIdx(images)) as IdxArray, two);
    expect(E.isLeft(mismatch) && mismatch.left.message).toMatch(/3 images but 2 labels/);
  });

  it('checks the header against the bytes present, in either direction, before allocating', () => {
    const long = new Uint8Array(images.length + 5);
    long.set(images);
    const extra = parseIdx(long, 'x.idx');
    expect(E.isLeft(extra) && extra.left.message).toMatch(/x\.idx: longer than its header says: dims \[3,2,2\] take 28 bytes, the file has 33/);
    // dims of 2^32 - 1 claim exabytes: refused from the header, nothing reserved
    const huge = parseIdx(idxBytes([0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]), 'huge');
    expect(E.isLeft(huge) && huge.left.message).toMatch(/huge: truncated: dims \[4294967295,4294967295,4294967295\]/);
    const bomb = parseIdx(new Uint8Array(gzipSync(new Uint8Array(100_000))), 'bomb.gz', 10_000);
    expect(E.isLeft(bomb) && bomb.left.message).toMatch(/bomb\.gz: unpacks to more than the 10000-byte maximum/);
  });

  it('refuses labels outside 0..9 and element types other than bytes', () => {
    const bad = datasetFromIdx(right(parseIdx(images)), right(parseIdx(idxBytes([3], [7, 12, 9]))), 'lab');
    expect(E.isLeft(bad) && bad.left.message).toBe('lab: label 12 at index 1 is outside 0..9; the models classify 10 digits or classes');
    const ints: IdxArray = { dims: [3], data: Int32Array.from([1, 2, 3]) };
    const typed = datasetFromIdx(right(parseIdx(images)), ints, 'typ');
    expect(E.isLeft(typed) && typed.left.message).toMatch(/unsigned bytes \(idx type 0x08\)/);
  });

  it('loads a folder with the standard file names, gzipped or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(images));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([1, 2, 2], [0, 0, 0, 255]));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes([1], [4])));
    const split = right(loadIdxFolder(dir));
    expect(split.train.images.shape).toEqual([3, 1, 2, 2]);
    expect(split.test.labels.toArray()).toEqual([4]);
    const missing = loadIdxFolder(tmpdir() + '/no-such-dir-for-idx');
    expect(E.isLeft(missing) && missing.left.message).toMatch(/train-images-idx3-ubyte/);
    const bad = loadData('/no/such/folder');
    expect(E.isLeft(bad) && bad.left.message).toMatch(/data folder \/no\/such\/folder does not exist; use mnist/);
  });
});

describe('deq train on damaged idx files', () => {
  it('says what is wrong with which file in one line, exit 2, before training', async () => {
    const { runCli } = await import('../src/cli/cli.js');
    const { writeIdxFolder } = await import('./helpers/tiny-data.js');
    const run = async (damage: (dir: string) => void) => {
      const dir = writeIdxFolder(mkdtempSync(join(tmpdir(), 'idx-bad-')));
      damage(dir);
      const io = capture();
      const { stdout: out, stderr: err } = io;
      const code = await runCli(['train', '--data', dir, '--out', mkdtempSync(join(tmpdir(), 'idx-out-'))], io);
      expect(code).toBe(2);
      expect(err).toHaveLength(1);
      expect(out).toEqual([]);
      return err[0]!;
    };
    expect(await run((d) => writeFileSync(join(d, 't10k-labels-idx1-ubyte'), idxBytes([32], Array.from({ length: 32 }, (_, i) => (i === 3 ? 10 : 1))))))
      .toMatch(/^deq train: .*t10k-labels-idx1-ubyte: label 10 at index 3 is outside 0\.\.9/);
    expect(await run((d) => writeFileSync(join(d, 'train-labels-idx1-ubyte'), idxBytes([70], Array(64).fill(1)))))
      .toMatch(/train-labels-idx1-ubyte: truncated: dims \[70\] take 78 bytes, the file has 72/);
  });
});

describe('bundled digits', () => {
  it('splits the 10,000 digits 8,000 / 2,000 the same way every time', () => {
    const a = loadBundledDigits();
    const b = loadBundledDigits();
    expect(a.train.images.shape).toEqual([8000, 1, 1 * 28, 28]);
    expect(a.test.images.shape).toEqual([2000, 1, 28, 28]);
    expect(a.train.labels.toArray()).toEqual(b.train.labels.toArray());
    expect(a.test.images.toArray().slice(0, 5000)).toEqual(b.test.images.toArray().slice(0, 5000));
    // every digit class appears on both sides, and the split covers each class's count exactly
    const counts = (ls: number[]) => ls.reduce((c, l) => { c[l]++; return c; }, Array(10).fill(0) as number[]);
    const tr = counts(a.train.labels.toArray());
    const te = counts(a.test.labels.toArray());
    expect(tr.every((c) => c > 500) && te.every((c) => c > 100)).toBe(true);
    expect(tr.map((c, i) => c + te[i]!)).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    const px = a.train.images.data as Float32Array;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < px.length; i += 7) { lo = Math.min(lo, px[i]!); hi = Math.max(hi, px[i]!); }
    expect(lo).toBe(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi).toBeGreaterThan(0.9);
  });
});

describe('batches', () => {
  const ds = right(datasetFromIdx(
    right(parseIdx(idxBytes([10, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))),
    right(parseIdx(idxBytes([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))),
  ));
  const order = (seed: number, dropLast: boolean) => [...batches(ds, 4, { rng: new Rng(seed), dropLast })].map((b) => b.y.toArray());

  it('shuffles by seed, keeps images and labels together, and drops a partial batch on request', () => {
    expect(order(1, false)).toEqual(order(1, false));
    expect(order(1, false).flat()).not.toEqual(order(2, false).flat());
    expect(order(1, false).flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(order(1, true).map((b) => b.length)).toEqual([4, 4]);
    for (const b of batches(ds, 3, { rng: new Rng(5) })) {
      expect(b.x.toArray().map((v) => Math.round(v * 255))).toEqual(b.y.toArray());
    }
    expect(() => [...batches(ds, 0)]).toThrow(/positive integer/);
  });
});

const FASHION = '/usr/share/datasets/fashion-mnist';
const haveFashion = requireOrSkip(FASHION, existsSync(FASHION), 'apt-get install -y dataset-fashion-mnist', 'the Fashion-MNIST reader test');
describe('Fashion-MNIST from the Debian package', () => {
  it.runIf(haveFashion)('reads 60,000 / 10,000 images with labels 0..9', () => {
    const split = right(loadIdxFolder(FASHION));
    expect(split.train.images.shape).toEqual([60000, 1, 28, 28]);
    expect(split.test.images.shape).toEqual([10000, 1, 28, 28]);
    const labels = split.test.labels.toArray();
    expect(Math.min(...labels)).toBe(0);
    expect(Math.max(...labels)).toBe(9);
  });
});
