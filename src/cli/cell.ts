/** The CLI's side of a bring-your-own cell: reading the .onnx file, describing it, writing the trained cell back. */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { DeqError } from '../core/errors.js';
import { sizeOf, type Tensor } from '../core/tensor.js';
import { cellShapes, type CellInputNames, type ImageShape, writeBackCell } from '../nn/onnxCell.js';
import { type CellFile, cellSourceOf, shortHash } from '../train/cellSource.js';
import { readBytes, writeAtomic } from '../util/fs.js';
import { ensureWritableDir } from '../util/outdir.js';

/** The trained cell's file in the run folder unless --cell-out (train) or --out (export) names another. */
export const TRAINED_CELL_FILE = 'trained-cell.onnx';


/** Read and import a cell file; a message naming the problem (and the flag) when it cannot be used. */
export async function readCellFile(file: string, inputs?: CellInputNames, hint = '--cell takes an .onnx file (--cell)', flags = inputs ? '--cell, --cell-inputs' : '--cell'): Promise<E.Either<string, CellFile>> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left(`cannot read the cell file ${file} (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder' : code ?? (e as Error).message}); ${hint}`);
  }
  try {
    return E.right(cellSourceOf(file, bytes, inputs));
  } catch (e) {
    if (e instanceof DeqError) return E.left(`${e.message} (${flags})`);
    throw e;
  }
}

const shapeText = (dims: readonly (number | null)[]) => `[${dims.map((d) => d ?? '?').join(', ')}]`;
const count = (ts: readonly Tensor[]) => ts.reduce((n, t) => n + t.size, 0);

/** What was read: the file, how z and x were found, what is trained. */
export function describeCell(c: CellFile): string {
  const { cell, source } = c;
  const how = cell.matchedBy === 'name' ? 'by name' : cell.matchedBy === 'choice' ? 'chosen by --cell-inputs' : 'by position; --cell-inputs chooses by name';
  const weights = Object.values(cell.imported.params);
  return `cell: ${source.file} (opset ${cell.imported.opset}, sha256 ${shortHash(source.sha256)}…): z = ${cell.z.name} ${cell.z.dtype}${shapeText(cell.z.shape)}, ` +
    `x = ${cell.x.name} ${cell.x.dtype}${shapeText(cell.x.shape)} (${how}) → ${cell.output.name}; ${weights.length} float initializers, ${count(weights).toLocaleString('en-US')} weights trained`;
}

/** The model around the cell in words, e.g. "Linear(784 → 16) → DEQ(cell) → Linear(16 → 10)". */
export function describeCellModel(c: CellFile, images: ImageShape, classes = 10): string {
  const s = cellShapes(c.cell, images);
  const inj = s.x.length === 3
    ? `Conv3x3(${images.channels} → ${s.x[0]})`
    : `Linear(${images.channels * images.size * images.size} → ${sizeOf(s.x)})${s.x.length > 1 ? ` → [${s.x.join(', ')}]` : ''}`;
  return `${inj} → DEQ(cell, z of [${s.z.join(', ')}]) → Linear(${sizeOf(s.z)} → ${classes})`;
}

/** A path the trained cell may be written to: its folder writable, and not the source file itself. */
export function checkCellOut(path: string, source: string): E.Either<string, string> {
  if (resolve(path) === resolve(source)) return E.left(`--cell-out ${path} is the source cell file; write the trained cell to another path (the source stays the run's reference)`);
  if (existsSync(path) && statSync(path).isDirectory()) return E.left(`--cell-out ${path} is a folder; name the .onnx file to write`);
  const dir = ensureWritableDir(dirname(path));
  return E.isLeft(dir) ? E.left(`${dir.left.message} (--cell-out)`) : E.right(path);
}

/** Write the source file with its initializers replaced by the trained cell weights; returns a line saying so. */
export async function writeTrainedCell(c: CellFile, trainedCell: unknown, path: string): Promise<string> {
  // the file as the command read it: its weights' names without importing it again
  const bytes = writeBackCell(c.bytes, trainedCell, c.source.file, c.cell.imported.params);
  await writeAtomic(path, bytes);
  const n = Object.keys(trainedCell as object).length;
  return `trained cell → ${path} (${c.source.file} with its ${n} float initializers trained; ${(bytes.length / 1024).toFixed(1)} KiB)`;
}
