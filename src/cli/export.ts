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

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Write each tutorial cell f(z, x, params), its VJP graph and its JVP graph as .onnx files, with manifest.json.',
  usage: 'deq export [--out DIR] [options]',
  flags: [
    { name: 'out', kind: 'string', value: 'DIR', default: 'onnx-models', help: 'output folder' },
    { name: 'batch', kind: 'int', min: 1, max: 512, value: 'N', default: '1', help: 'batch size baked into the graphs' },
    { name: 'dtype', kind: 'string', choices: ['float32', 'float64'], default: 'float32', help: 'element type' },
  ],
  examples: ['deq export --out onnx-models', 'deq export --batch 10 --dtype float64'],
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
