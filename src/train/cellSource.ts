/**
 * Where a trained .onnx cell came from: the file's path and content hash, kept in the run's
 * configuration (and so in its checkpoints), so that a resume or a write-back can tell whether the
 * bytes at hand are the ones the run started from.
 */
import { createHash } from 'node:crypto';
import type { FixedPointOptions } from '../solvers/index.js';
import { onnxCellModel, readOnnxCell, type CellInputNames, type ImageShape, type OnnxCell } from '../nn/onnxCell.js';
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

/** A cell file read once: its source (path, hash, z and x), the imported cell and the bytes. */
export interface CellFile {
  source: CellSource;
  cell: OnnxCell;
  bytes: Uint8Array;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Import a cell file and describe its source; `inputs` chooses z and x by name (default: z and x, else by position). */
export function cellSourceOf(file: string, bytes: Uint8Array, inputs?: CellInputNames): CellFile {
  const cell = readOnnxCell(bytes, { inputs, what: file });
  return { source: { file, sha256: sha256Hex(bytes), inputs: { z: cell.z.name, x: cell.x.name } }, cell, bytes };
}

/** The first 12 hex digits, enough to tell two files apart in a message. */
export const shortHash = (hex: string): string => hex.slice(0, 12);

/**
 * The model of a run on a cell, from the cell's bytes or from the file already read (`cellSourceOf`,
 * which hashed and imported them: not done again). Either must be the source's (same hash, same z and x).
 */
export function cellModelOf(source: CellSource | undefined, given: Uint8Array | CellFile | undefined, deq: FixedPointOptions | false, images: ImageShape): Model {
  if (!source) throw new SettingError(['cell'], "model 'cell' needs the cell's source (TrainConfig.cell: file, sha256, inputs)");
  if (!given) throw new SettingError(['cell'], `the run trains the cell ${source.file} but was not given its bytes`);
  const read = given instanceof Uint8Array ? undefined : given;
  const hash = read ? read.source.sha256 : sha256Hex(given as Uint8Array);
  if (hash !== source.sha256) {
    throw new SettingError(['cell'], `the bytes given for the cell ${source.file} have sha256 ${shortHash(hash)}…, the configuration names ${shortHash(source.sha256)}…`);
  }
  if (read && (read.source.inputs.z !== source.inputs.z || read.source.inputs.x !== source.inputs.x)) {
    throw new SettingError(['cell'], `the cell ${source.file} was read with z = ${read.source.inputs.z} and x = ${read.source.inputs.x}, the configuration names z = ${source.inputs.z} and x = ${source.inputs.x}`);
  }
  const cell = read ? read.cell : readOnnxCell(given as Uint8Array, { inputs: source.inputs, what: source.file });
  return onnxCellModel(cell, deq, images);
}
