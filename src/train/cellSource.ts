/**
 * Where a trained .onnx cell came from: the file's path and content hash, kept in the run's
 * configuration (and so in its checkpoints), so that a resume or a write-back can tell whether the
 * bytes at hand are the ones the run started from.
 */
import { createHash } from 'node:crypto';
import type { FixedPointOptions } from '../solvers/index.js';
import { onnxCellModel, readOnnxCell, type CellInputNames, type ImageShape } from '../nn/onnxCell.js';
import type { Model } from '../nn/models.js';
import { SettingError } from './errors.js';

export interface CellSource {
  /** The path the file was read from, as given. */
  file: string;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
  /** The file's inputs that are z and x. */
  inputs: CellInputNames;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Import a cell file and describe its source; `inputs` chooses z and x by name (default: z and x, else by position). */
export function cellSourceOf(file: string, bytes: Uint8Array, inputs?: CellInputNames): { source: CellSource; cell: ReturnType<typeof readOnnxCell> } {
  const cell = readOnnxCell(bytes, { inputs, what: file });
  return { source: { file, sha256: sha256Hex(bytes), inputs: { z: cell.z.name, x: cell.x.name } }, cell };
}

/** The first 12 hex digits, enough to tell two files apart in a message. */
export const shortHash = (hex: string): string => hex.slice(0, 12);

/** The model of a run on a cell: the bytes must be the source's (same hash). */
export function cellModelOf(source: CellSource | undefined, bytes: Uint8Array | undefined, deq: FixedPointOptions | false, images: ImageShape): Model {
  if (!source) throw new SettingError(['cell'], "model 'cell' needs the cell's source (TrainConfig.cell: file, sha256, inputs)");
  if (!bytes) throw new SettingError(['cell'], `the run trains the cell ${source.file} but was not given its bytes`);
  const hash = sha256Hex(bytes);
  if (hash !== source.sha256) {
    throw new SettingError(['cell'], `the bytes given for the cell ${source.file} have sha256 ${shortHash(hash)}…, the configuration names ${shortHash(source.sha256)}…`);
  }
  return onnxCellModel(readOnnxCell(bytes, { inputs: source.inputs, what: source.file }), deq, images);
}
