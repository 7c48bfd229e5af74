/**
 * The trained cell of a `deq train --cell` run, as a file another program serves: onnxruntime-node
 * runs the written .onnx on its own, and its values are compared with the library's, which
 * computes the cell from the source file and the checkpoint's trained weights. Random z and x at
 * two batch sizes; the error is max |ort − library| / max |library|.
 *
 *   npx tsx examples/trained-cell.ts cell-run            # reads cell-run/trained-cell.onnx
 *   npx tsx examples/trained-cell.ts cell-run trained.onnx
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { importOnnx, jit, Rng, Tensor, type Value } from '../src/index.js';
import { loadCheckpoint, readRunMeta } from '../src/train/index.js';

export interface CellComparison { batch: number; shape: number[]; relErr: number }

export async function compareTrainedCell(run: string, written = join(run, 'trained-cell.onnx')): Promise<CellComparison[]> {
  const ck = loadCheckpoint(join(run, 'checkpoint.deq'));
  if (ck._tag === 'Left') throw ck.left;
  const meta = readRunMeta(ck.right.meta);
  if (typeof meta === 'string' || !meta.config.cell) throw new Error(`${run} holds no cell run`);
  const trained = (ck.right.trees.params as { cell: Record<string, Tensor> }).cell;
  const source = importOnnx(new Uint8Array(readFileSync(meta.config.cell.file)));
  const library = jit((w: Record<string, Value>, ...xs: Value[]) => source.apply(w, ...xs)[0]!);
  const session = await ort.InferenceSession.create(readFileSync(written));
  const out: CellComparison[] = [];
  try {
    for (const batch of [1, 7]) {
      const rng = new Rng(batch);
      // symbolic axes other than the batch (image height, width) get 28
      const inputs = source.inputs.map((i) => rng.randn(i.shape.map((d, k) => d ?? (k === 0 ? batch : 28)), i.dtype, 0.5));
      const want = ((await library(trained, ...inputs)) as Tensor).toArray();
      const feeds = Object.fromEntries(source.inputs.map((info, k) => [info.name, new ort.Tensor(info.dtype, inputs[k]!.data as Float32Array, [...inputs[k]!.shape])]));
      const got = Array.from((await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array);
      const scale = Math.max(...want.map(Math.abs));
      const diff = Math.max(...want.map((v, k) => Math.abs(v - got[k]!)));
      out.push({ batch, shape: [...inputs[0]!.shape], relErr: diff / scale });
    }
  } finally {
    await Promise.all([session.release(), library.release()]);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [run, file] = process.argv.slice(2);
  if (!run) throw new Error('usage: npx tsx examples/trained-cell.ts RUN_DIR [TRAINED.onnx]');
  for (const r of await compareTrainedCell(run, file)) {
    console.log(`batch ${r.batch} (z of [${r.shape.join(', ')}]): onnxruntime-node vs library, relative error ${r.relErr.toExponential(2)}`);
  }
}
