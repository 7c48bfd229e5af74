/** `deq export`: each tutorial cell, its VJP and its JVP graph as .onnx files with a manifest. */
import { join } from 'node:path';
import { exportOnnx, type ManifestEntry } from '../onnx/export.js';
import { writeAtomic } from '../util/fs.js';
import type { DType } from '../core/dtype.js';
import type { Value } from '../core/primitive.js';
import { Rng } from '../core/random.js';
import { initResNetCell, initTanhCell, resNetCell, tanhCell } from '../nn/cells.js';
import { jvp, vjp } from '../transforms/grad.js';
import type { CommandSpec, Parsed } from './args.js';
import type { CliIo } from './io.js';
import { ensureWritableDir } from '../util/outdir.js';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync } from 'node:fs';
import { DeqError } from '../core/errors.js';
import { shortHash } from '../train/cellSource.js';
import { CheckpointError } from '../train/errors.js';
import { CHECKPOINT_FILE, loadRun } from '../train/rundir.js';
import { checkCellOut, readCellFile, TRAINED_CELL_FILE, writeTrainedCell } from './cell.js';
import { flagError } from './errors.js';

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Write each tutorial cell f(z, x, params), its VJP graph and its JVP graph as .onnx files, with manifest.json; or, with --run, the trained cell of a deq train --cell run.',
  usage: 'deq export [--out DIR] [options]  |  deq export --run DIR [--cell FILE] [--out FILE]',
  flags: [
    { name: 'out', kind: 'string', value: 'DIR|FILE', help: `output folder (default: onnx-models); with --run, the .onnx file to write (default: the run's ${TRAINED_CELL_FILE})` },
    { name: 'batch', kind: 'int', min: 1, max: 512, value: 'N', default: '1', help: 'batch size of the example inputs (the graphs take any batch size)' },
    { name: 'dtype', kind: 'string', choices: ['float32', 'float64'], default: 'float32', help: 'element type' },
    { name: 'run', kind: 'string', value: 'DIR', help: `write the trained cell of the ${CHECKPOINT_FILE} in DIR (from deq train --cell) as .onnx: the source file with its initializers trained` },
    { name: 'cell', kind: 'string', value: 'FILE', help: 'with --run: the source .onnx the run was trained on (default: the path the checkpoint records; its content must match)' },
  ],
  examples: ['deq export --out onnx-models', 'deq export --batch 10 --dtype float64', 'deq export --run cell-run --out trained.onnx'],
};

type CellFn = (z: Value, x: Value, p: any) => Value;

interface CellEntry { name: string; description: string; cell: CellFn; z: unknown; params: unknown }

function cells(batch: number, dtype: DType): CellEntry[] {
  const rng = new Rng(0);
  return [
    {
      name: 'tanh_cell',
      description: 'tanh(z W + x), the MLP DEQ cell (hidden 100)',
      cell: tanhCell as CellFn,
      z: rng.randn([batch, 100], dtype),
      params: initTanhCell(rng, 100, dtype),
    },
    {
      name: 'resnet_cell',
      description: 'norm3(relu(z + norm2(x + conv2(norm1(relu(conv1(z))))))), 48 channels, 64 inner, 28×28',
      cell: ((z, x, p) => resNetCell(z, x, p, { groups: 8 })) as CellFn,
      z: rng.randn([batch, 48, 28, 28], dtype),
      params: initResNetCell(rng, { channels: 48, innerChannels: 64, dtype }),
    },
  ];
}

export async function exportCommand(f: Parsed, io: CliIo): Promise<number> {
  if (f.run !== undefined) return exportTrainedCell(f, io);
  if (f.cell !== undefined) { io.err('deq export: --cell only applies with --run DIR (the run trained on that cell)'); return 2; }
  const out = (f.out as string | undefined) ?? 'onnx-models';
  const batch = (f.batch as number | undefined) ?? 1;
  const dtype = ((f.dtype as string | undefined) ?? 'float32') as DType;
  const dir = ensureWritableDir(out);
  if (E.isLeft(dir)) { io.err(`deq export: ${dir.left.message} (--out)`); return 2; }
  const entries: (ManifestEntry & { graph: string; cell: string; description: string })[] = [];
  for (const c of cells(batch, dtype)) {
    const { z, params } = c;
    const fwd = (z: Value, x: Value, params: unknown) => ({ z_next: c.cell(z, x, params) });
    const back = (z: Value, x: Value, params: unknown, ct: Value) => {
      const [, pullback] = vjp(c.cell, z, x, params);
      const [gz, gx, gp] = pullback(ct) as [Value, Value, unknown];
      return { grad_z: gz, grad_x: gx, grad_params: gp };
    };
    const fwdMode = (z: Value, x: Value, params: unknown, dz: Value, dx: Value, dparams: unknown) => {
      const [y, dy] = jvp(c.cell, [z, x, params], [dz, dx, dparams]) as [Value, Value];
      return { z_next: y, tangent: dy };
    };
    const graphs: [string, (...a: any[]) => unknown, Record<string, unknown>][] = [
      ['cell', fwd, { z, x: z, params }],
      ['vjp', back, { z, x: z, params, cotangent: z }],
      ['jvp', fwdMode, { z, x: z, params, dz: z, dx: z, dparams: params }],
    ];
    for (const [kind, fn, example] of graphs) {
      const file = `${c.name}.${kind}.onnx`;
      const r = await exportOnnx(fn, example, join(out, file), { graphName: `${c.name}_${kind}` });
      entries.push({ ...r.manifest, file, graph: kind, cell: c.name, description: c.description });
      io.out(`wrote ${join(out, file)} (${(r.bytes.length / 1024).toFixed(1)} KiB, ${r.manifest.inputs.length} inputs, ${r.manifest.outputs.length} outputs)`);
    }
  }
  await writeAtomic(join(out, 'manifest.json'), `${JSON.stringify({ generator: 'deq export', batch, dtype, models: entries }, null, 2)}\n`);
  io.out(`wrote ${join(out, 'manifest.json')} (${entries.length} graphs)`);
  return 0;
}

/** `deq export --run DIR`: the run's trained cell, written into its source file's bytes. */
async function exportTrainedCell(f: Parsed, io: CliIo): Promise<number> {
  const fail = (msg: string) => { io.err(`deq export: ${msg}`); return 2; };
  const stray = ['batch', 'dtype'].find((k) => f[k] !== undefined);
  if (stray) return fail(`--${stray} does not apply with --run: the trained cell keeps its source file's dtype and axes`);
  const run = f.run as string;
  const ckPath = join(run, CHECKPOINT_FILE);
  if (!existsSync(ckPath)) return fail(`no ${CHECKPOINT_FILE} in ${run}; train one with deq train --cell FILE --out ${run} (--run)`);
  const loaded = loadRun(ckPath);
  if (E.isLeft(loaded)) return fail(flagError(loaded.left));
  const { checkpoint: ck, ...meta } = loaded.right;
  const source = meta.config.cell;
  if (meta.config.model !== 'cell' || !source) return fail(`${ckPath} holds a ${meta.config.model} model, not a cell; --run writes the cells trained by deq train --cell (deq export without --run writes the tutorial cells)`);
  const file = (f.cell as string | undefined) ?? source.file;
  const cell = f.cell !== undefined
    ? await readCellFile(file, source.inputs)
    : await readCellFile(file, source.inputs, `${ckPath} records this path for the run's cell; pass the file with --cell FILE`, `${file}, recorded in ${ckPath}`);
  if (E.isLeft(cell)) return fail(cell.left);
  if (cell.right.source.sha256 !== source.sha256) {
    return fail(`${file} has sha256 ${shortHash(cell.right.source.sha256)}…, but ${run} was trained on ${source.file} with sha256 ${shortHash(source.sha256)}…; pass the run's source file with --cell`);
  }
  const out = (f.out as string | undefined) ?? join(run, TRAINED_CELL_FILE);
  const target = checkCellOut(out, file);
  if (E.isLeft(target)) return fail(target.left.replace('--cell-out', '--out'));
  const params = ck.trees.params as { cell?: unknown } | undefined;
  try {
    io.out(await writeTrainedCell(cell.right, params?.cell, target.right));
  } catch (e) {
    if (e instanceof DeqError) return fail(flagError(new CheckpointError(ckPath, e.message)));
    throw e;
  }
  // a run with --validation 0 has no validation error to report
  const lastVal = meta.history[meta.history.length - 1]?.valError;
  io.out(`from ${ckPath}: ${meta.history.length} epoch${meta.history.length === 1 ? '' : 's'} trained${lastVal !== undefined && Number.isFinite(lastVal) ? `, validation error ${(lastVal * 100).toFixed(2)}%` : ''}`);
  return 0;
}
