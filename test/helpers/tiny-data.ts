/** Small MNIST-format data sets for fast runs: 8×8 random images with labels 0..9. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, Tensor } from '../../src/index.js';
import type { DataSplit, Dataset } from '../../src/train/data.js';

/** An idx file: big-endian header (0, 0, type 0x08 = ubyte, rank, dims) then the bytes. */
export function idxBytes(dims: number[], values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  const v = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

const pixels = (rng: Rng, n: number, size: number) => Uint8Array.from({ length: n * size * size }, () => rng.int(256));
const labels = (rng: Rng, n: number) => Uint8Array.from({ length: n }, () => rng.int(10));

/** A folder with the four standard idx files. */
export function writeIdxFolder(dir: string, nTrain = 64, nTest = 32, size = 8, seed = 0): string {
  const rng = new Rng(seed);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxBytes([nTrain, size, size], pixels(rng, nTrain, size)));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes([nTrain], labels(rng, nTrain)));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([nTest, size, size], pixels(rng, nTest, size)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([nTest], labels(rng, nTest)));
  return dir;
}

function dataset(rng: Rng, n: number, size: number): Dataset {
  const px = Float32Array.from(pixels(rng, n, size), (p) => p / 255);
  return { images: new Tensor('float32', [n, 1, size, size], px), labels: new Tensor('int64', [n], BigInt64Array.from(labels(rng, n), (l) => BigInt(l))) };
}

/** The same kind of data in memory. */
export function tinySplit(nTrain = 64, nTest = 32, size = 8, seed = 0): DataSplit {
  const rng = new Rng(seed);
  return { train: dataset(rng, nTrain, size), test: dataset(rng, nTest, size), source: 'tiny random digits' };
}
