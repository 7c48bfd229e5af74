/**
 * CIFAR-10's binary version (cifar-10-binary.tar.gz, which unpacks to cifar-10-batches-bin/):
 * data_batch_1.bin … data_batch_5.bin for training and test_batch.bin, each a run of 3,073-byte
 * records: one label byte (0..9), then 3,072 pixel bytes, 1,024 per channel (red, green, blue),
 * each channel row-major 32×32 — already the [C, H, W] layout, so a record is copied and scaled.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Dataset, DataSplit } from './dataset.js';

export const CIFAR_IMAGE_BYTES = 3 * 32 * 32;
export const CIFAR_RECORD_BYTES = 1 + CIFAR_IMAGE_BYTES;
export const CIFAR_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR_TEST_FILE = 'test_batch.bin';
const CIFAR_CLASSES = 10;

const GET_IT = 'download the binary version, cifar-10-binary.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass its cifar-10-batches-bin folder to --data';

/** The folder holding the CIFAR-10 batches: `dir` itself or its cifar-10-batches-bin/; null when neither is one. */
export function cifarFolder(dir: string): string | null {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) if (existsSync(join(d, CIFAR_TRAIN_FILES[0]))) return d;
  return null;
}

/** Why a file of `size` bytes is not a run of CIFAR-10 records, or null when it is one. */
function sizeProblem(file: string, size: number): string | null {
  if (size > 0 && size % CIFAR_RECORD_BYTES === 0) return null;
  const cifar100 = size > 0 && size % (CIFAR_RECORD_BYTES + 1) === 0 ? ' (it fits CIFAR-100\'s 3,074-byte records; this reader takes CIFAR-10)' : '';
  return `${file}: ${size} bytes is not a positive multiple of the ${CIFAR_RECORD_BYTES}-byte CIFAR-10 record${cifar100}; the file is truncated or not CIFAR-10: ${GET_IT}`;
}

/** Decode the records of one file into `pixels` / `labels` from record `at` on; a label over 9 is an error. */
function decodeRecords(bytes: Uint8Array, file: string, pixels: Float32Array, labels: BigInt64Array, at: number): InputError | null {
  const n = bytes.length / CIFAR_RECORD_BYTES;
  for (let r = 0; r < n; r++) {
    const base = r * CIFAR_RECORD_BYTES;
    const label = bytes[base]!;
    if (label >= CIFAR_CLASSES) return new InputError(`${file}: record ${r} has label ${label}; CIFAR-10 labels are 0..9, so the file is damaged or another format: ${GET_IT}`);
    labels[at + r] = BigInt(label);
    const out = (at + r) * CIFAR_IMAGE_BYTES;
    for (let i = 0; i < CIFAR_IMAGE_BYTES; i++) pixels[out + i] = bytes[base + 1 + i]! / 255;
  }
  return null;
}

/** Each file's size, checked: present and a whole number of records; the first problem otherwise. */
function checkedSizes(files: readonly string[]): E.Either<InputError, number[]> {
  const sizes: number[] = [];
  for (const f of files) {
    if (!existsSync(f)) return E.left(new InputError(`${f}: missing; CIFAR-10 needs ${[...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].join(', ')}: ${GET_IT}`));
    const size = statSync(f).size;
    const problem = sizeProblem(f, size);
    if (problem) return E.left(new InputError(problem));
    sizes.push(size);
  }
  return E.right(sizes);
}

/** Decode files whose sizes were checked into one Dataset. */
function decodeFiles(files: readonly string[], sizes: readonly number[]): E.Either<InputError, Dataset> {
  const total = sizes.reduce((a, s) => a + s / CIFAR_RECORD_BYTES, 0);
  const pixels = new Float32Array(total * CIFAR_IMAGE_BYTES);
  const labels = new BigInt64Array(total);
  let at = 0;
  for (const [i, f] of files.entries()) {
    const bytes = new Uint8Array(readFileSync(f));
    if (bytes.length !== sizes[i]) return E.left(new InputError(`${f}: changed while it was read (${sizes[i]} then ${bytes.length} bytes); read it again`));
    const err = decodeRecords(bytes, f, pixels, labels, at);
    if (err) return E.left(err);
    at += bytes.length / CIFAR_RECORD_BYTES;
  }
  return E.right({ images: new Tensor('float32', [total, 3, 32, 32], pixels), labels: new Tensor('int64', [total], labels) });
}

/**
 * Read CIFAR-10 record files into one Dataset: float32 images [N, 3, 32, 32] in [0, 1] and int64
 * labels [N]. Every file's size is checked before anything is allocated.
 */
export function readCifarFiles(files: readonly string[]): E.Either<InputError, Dataset> {
  const sizes = checkedSizes(files);
  return E.isLeft(sizes) ? sizes : decodeFiles(files, sizes.right);
}

/** Train (the five data batches, 50,000 images) and test (test_batch.bin, 10,000) from a CIFAR-10 binary folder. */
export function loadCifarFolder(dir: string): E.Either<InputError, DataSplit> {
  const folder = cifarFolder(dir) ?? dir;
  const missing = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].filter((f) => !existsSync(join(folder, f)));
  if (missing.length) return E.left(new InputError(`${folder}: no ${missing.join(', ')}; CIFAR-10 needs all six batch files: ${GET_IT}`));
  const trainFiles = CIFAR_TRAIN_FILES.map((f) => join(folder, f));
  const testFiles = [join(folder, CIFAR_TEST_FILE)];
  // all six sizes are checked before the training set (614 MB as float32) is allocated
  const sizes = checkedSizes([...trainFiles, ...testFiles]);
  if (E.isLeft(sizes)) return sizes;
  const train = decodeFiles(trainFiles, sizes.right.slice(0, trainFiles.length));
  if (E.isLeft(train)) return train;
  const test = decodeFiles(testFiles, sizes.right.slice(trainFiles.length));
  if (E.isLeft(test)) return test;
  return E.right({ train: train.right, test: test.right, source: `CIFAR-10 (${folder})` });
}
