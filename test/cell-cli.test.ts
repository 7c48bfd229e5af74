/**
 * Bring your own cell, from the command line: `deq train --cell` trains a PyTorch-exported zoo cell
 * as a DEQ on a few hundred digits to a lower loss, writes the trained cell back as .onnx, and
 * onnxruntime-node reproduces the library's values from the written file at other batch sizes;
 * python3-onnx's checker accepts it; `deq export --run` writes the same file from the checkpoint;
 * a resume refuses another cell file; and cells that cannot fit say what was expected.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { importOnnx, jit, Rng, Tensor, type Value } from '../src/index.js';
import { onnxCellModel, readOnnxCell } from '../src/nn/onnxCell.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { loadData, take } from '../src/train/data.js';
import { adam, makeTrainer } from '../src/train/index.js';
import { relErr } from './helpers/gradcheck.js';
import { tanhCellBytes } from './helpers/onnx-cell.js';
import { writeIdxFolder } from './helpers/tiny-data.js';
import { compareTrainedCell } from '../examples/trained-cell.js';
import { capture } from './helpers/cli-io.js';

const { onnx } = onnxProto;
const fixture = (path: string) => fileURLToPath(new URL(`./fixtures/${path}`, import.meta.url));
const GATED = fixture('zoo/gated.opset17.float32.onnx');
const DIGITS = { channels: 1, size: 28 };
const QUICK = ['--train-limit', '300', '--test-limit', '200', '--batch', '50', '--lr', '0.01'];


async function deq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = capture();
  const code = await runCli(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

/** One line on stderr and exit code 2. */
async function refused(...argv: string[]): Promise<string> {
  const r = await deq(...argv);
  expect(r.code, r.err).toBe(2);
  expect(r.err.split('\n'), r.err).toHaveLength(1);
  return r.err;
}

async function ortRun(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, [...t.shape])])));
    const y = out[session.outputNames[0]!]!;
    return new Tensor('float32', [...y.dims], Float32Array.from(y.data as Float32Array));
  } finally {
    await session.release();
  }
}

/** f(z, x) with these weights, as the library computes it from the source file. */
async function libraryCell(source: Uint8Array, weights: Record<string, Tensor>, feeds: Tensor[]): Promise<Tensor> {
  const m = importOnnx(source);
  return (await jit((w: Record<string, Value>, ...xs: Value[]) => m.apply(w, ...xs)[0]!)(weights, ...feeds)) as Tensor;
}

const trainedCellOf = (run: string) => {
  const ck = loadCheckpoint(join(run, 'checkpoint.deq'));
  if (E.isLeft(ck)) throw ck.left;
  return (ck.right.trees.params as { cell: Record<string, Tensor> }).cell;
};

/** python3 with onnx: the checker's verdict on a file, or why it cannot run. */
function onnxChecker(): ((file: string) => { ok: boolean; out: string }) | string {
  const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const probe = spawnSync(python, ['-c', 'import onnx'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${python} cannot import onnx (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()}); Debian: apt-get install -y python3-onnx`;
  return (file) => {
    const r = spawnSync(python, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
  };
}

describe('deq train --cell: a PyTorch-exported zoo cell on the digits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deq-cell-'));
  const cell = join(dir, 'gated.onnx');
  const run = join(dir, 'run');
  const written = join(run, 'trained-cell.onnx');
  let first: Awaited<ReturnType<typeof deq>>;
  beforeAll(async () => {
    copyFileSync(GATED, cell);
    first = await deq('train', '--cell', cell, '--epochs', '1', '--out', run, ...QUICK);
  });

  it('trains, describes what it read and built, and writes the trained cell', () => {
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^cell: .*gated\.onnx \(opset 17, sha256 [0-9a-f]{12}…\): z = z float32\[\?, 16\], x = x float32\[\?, 16\] \(by name\) → z_next; 9 float initializers, 1,584 weights trained$/m);
    expect(first.out).toContain('model: Linear(784 → 16) → DEQ(cell, z of [16]) → Linear(16 → 10), solver anderson (tol 0.0001, max 50 iterations), backward implicit');
    expect(first.out).toContain(`trained cell → ${written} (${cell} with its 9 float initializers trained;`);
  });

  it('a resume refuses another cell file, and a run without the cell; with the same file it goes on to a lower loss', async () => {
    const other = fixture('zoo/gated.opset13.float32.onnx');
    expect(await refused('train', '--cell', other, '--resume', '--epochs', '2', '--out', run, ...QUICK))
      .toMatch(new RegExp(`^deq train: .*checkpoint\\.deq was trained on the cell ${cell} \\(sha256 [0-9a-f]{12}…\\), but ${other} has sha256 [0-9a-f]{12}…; resume with the same file, or write to another folder \\(--cell, --out\\)$`));
    expect(await refused('train', '--resume', '--epochs', '2', '--out', run, ...QUICK))
      .toMatch(new RegExp(`was trained on the cell ${cell} \\(sha256 [0-9a-f]{12}…\\); resume with that cell file, or write to another folder`));
    const r = await deq('train', '--cell', cell, '--resume', '--epochs', '2', '--out', run, ...QUICK);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('after epoch 1');

    // the loss of the untrained model (same seed, same test digits) against the trained one's
    const data = loadData('mnist');
    if (E.isLeft(data)) throw data.left;
    const test = take(data.right.test, 200);
    const model = onnxCellModel(readOnnxCell(readFileSync(cell)), {}, DIGITS);
    const init = model.init(new Rng(0));
    const before = await makeTrainer(model, adam()).evaluate(init.params, init.state, test.images, test.labels);
    // the test set is evaluated once, after the last epoch
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as { history: unknown[]; test: { loss: number; error: number; samples: number } };
    expect(metrics.history).toHaveLength(2);
    expect(metrics.test.samples).toBe(200);
    expect(before.loss).toBeGreaterThan(2.2);
    expect(metrics.test.loss).toBeLessThan(before.loss - 0.4);
    expect(metrics.test.error).toBeLessThan(before.errors / 200 - 0.2);
  });

  it('the written file: the source\'s names, opset, graph and dynamic axes, the trained initializers; onnxruntime-node gives the library\'s values at batch 1 and 7', async () => {
    const source = new Uint8Array(readFileSync(cell));
    const out = new Uint8Array(readFileSync(written));
    const trained = trainedCellOf(run);
    const [a, b] = [onnx.ModelProto.decode(source), onnx.ModelProto.decode(out)];
    expect(b.graph!.input).toEqual(a.graph!.input);
    expect(b.graph!.output).toEqual(a.graph!.output);
    expect(b.graph!.node).toEqual(a.graph!.node);
    expect(b.opsetImport).toEqual(a.opsetImport);
    expect([b.irVersion, b.producerName, b.producerVersion]).toEqual([a.irVersion, a.producerName, a.producerVersion]);
    expect(b.graph!.input!.map((i) => i.type!.tensorType!.shape!.dim![0]!.dimParam)).toEqual(['batch', 'batch']);
    const imported = importOnnx(out);
    expect(Object.keys(imported.params).sort()).toEqual(Object.keys(trained).sort());
    for (const [k, t] of Object.entries(trained)) expect(imported.params[k]!.data, k).toEqual(t.data);
    for (const batch of [1, 7]) {
      const rng = new Rng(batch);
      const z = rng.randn([batch, 16], 'float32', 0.5);
      const x = rng.randn([batch, 16], 'float32', 0.5);
      const lib = await libraryCell(source, trained, [z, x]);
      expect(relErr(await ortRun(out, { z, x }), lib), `batch ${batch}`).toBeLessThan(1e-5);
    }
    // the README's example makes the same comparison from the run folder
    const compared = await compareTrainedCell(run);
    expect(compared.map((c) => c.shape)).toEqual([[1, 16], [7, 16]]);
    for (const c of compared) expect(c.relErr).toBeLessThan(1e-5);
  });

  const checker = onnxChecker();
  if (typeof checker === 'string' && process.env.CI === 'true') {
    it('python3-onnx is available (required in CI)', () => { throw new Error(checker); });
  } else if (typeof checker === 'string') {
    console.warn(`skipping the onnx.checker test: ${checker}`);
    it.skip(`python3-onnx's checker accepts the written cell (skipped: ${checker})`, () => {});
  } else {
    it('python3-onnx\'s checker accepts the written cell, and rejects a damaged one', () => {
      const ok = checker(written);
      expect(ok.ok, ok.out).toBe(true);
      const bad = join(dir, 'bad.onnx');
      // the MatMul reads an initializer that no longer exists
      writeFileSync(bad, readFileSync(written).toString('latin1').replace('onnx::MatMul_32', 'onnx::MatMul_99'), 'latin1');
      expect(checker(bad).ok).toBe(false);
    });
  }

  it('deq export --run writes the same file from the checkpoint; a moved source is found with --cell and checked by content', async () => {
    const again = join(dir, 'again.onnx');
    const r = await deq('export', '--run', run, '--out', again);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('2 epochs trained');
    expect(Buffer.compare(readFileSync(again), readFileSync(written))).toBe(0);
    const moved = join(dir, 'moved.onnx');
    renameSync(cell, moved);
    try {
      expect(await refused('export', '--run', run, '--out', again))
        .toBe(`deq export: cannot read the cell file ${cell} (no such file); ${join(run, 'checkpoint.deq')} records this path for the run's cell; pass the file with --cell FILE`);
      expect(await refused('export', '--run', run, '--cell', fixture('zoo/gated.opset13.float32.onnx'), '--out', again)).toMatch(/has sha256 [0-9a-f]{12}…, but .* was trained on .*gated\.onnx with sha256 [0-9a-f]{12}…; pass the run's source file with --cell$/);
      const viaFlag = join(dir, 'via-flag.onnx');
      expect((await deq('export', '--run', run, '--cell', moved, '--out', viaFlag)).code).toBe(0);
      expect(Buffer.compare(readFileSync(viaFlag), readFileSync(written))).toBe(0);
    } finally {
      renameSync(moved, cell);
    }
  });
});

describe('deq plot on a cell run', () => {
  it('plots the residuals of the trained cell\'s solves, reading the cell by the path its checkpoint records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deq-cell-plot-'));
    const cell = join(dir, 'cell.onnx');
    copyFileSync(GATED, cell);
    const run = join(dir, 'run');
    const data = ['--data', writeIdxFolder(join(dir, 'data'), 100, 50, 8)];
    expect((await deq('train', '--cell', cell, '--epochs', '1', '--batch', '50', ...data, '--out', run)).code).toBe(0);
    const r = await deq('plot', '--out', run, '--batch', '20');
    expect(r.code, r.err).toBe(0);
    const traces = JSON.parse(readFileSync(join(run, 'residuals.json'), 'utf8')) as { model: string; forward: number[]; backward: number[] };
    expect(traces.model).toBe('cell');
    expect(traces.forward.at(-1)!).toBeLessThan(1e-6);
    expect(traces.forward.at(-1)!).toBeLessThan(traces.forward[0]! * 1e-3);
    expect(traces.backward.at(-1)!).toBeLessThan(1e-6);
    // another file in the recorded place is refused
    copyFileSync(fixture('zoo/gated.opset13.float32.onnx'), cell);
    expect(await refused('plot', '--out', run)).toMatch(/^deq plot: .*cell\.onnx is not the file .* was trained on \(sha256 [0-9a-f]{12}…, the run's [0-9a-f]{12}…\)$/);
  });
});

describe('deq train --cell: other cells and flags (on 8×8 random digits)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deq-cell-more-'));
  const TINY = ['--data', writeIdxFolder(join(dir, 'data'), 100, 50, 8), '--train-limit', '100', '--test-limit', '50', '--batch', '50', '--epochs', '1'];

  it('an image-shaped cell gets a conv injection; the written file keeps its dynamic batch, height and width', async () => {
    const cell = fixture('cells/conv_groupnorm.onnx');
    const run = join(dir, 'conv');
    const r = await deq('train', '--cell', cell, ...TINY, '--out', run);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('model: Conv3x3(1 → 4) → DEQ(cell, z of [4, 8, 8]) → Linear(256 → 10), solver anderson (tol 0.01, max 25 iterations)');
    const out = new Uint8Array(readFileSync(join(run, 'trained-cell.onnx')));
    const trained = trainedCellOf(run);
    for (const [batch, size] of [[1, 8], [7, 8], [2, 28]] as const) {
      const rng = new Rng(batch + size);
      const z = rng.randn([batch, 4, size, size], 'float32', 0.5);
      const x = rng.randn([batch, 4, size, size], 'float32', 0.5);
      const lib = await libraryCell(readFileSync(cell), trained, [z, x]);
      expect(relErr(await ortRun(out, { z, x }), lib), `batch ${batch} at ${size}×${size}`).toBeLessThan(3e-5);
    }
  });

  it('--cell-inputs names z and x; the written file keeps the source\'s input names and order; solver, backward and optimizer flags apply', async () => {
    const cell = fixture('cells/swapped_inputs.onnx');
    const cellOut = join(dir, 'out', 'swapped-trained.onnx');
    const r = await deq('train', '--cell', cell, '--cell-inputs', 'h,u', '--cell-out', cellOut, '--solver', 'broyden', '--backward', 'phantom', '--phantom-steps', '3',
      '--optimizer', 'sgd', '--schedule', 'step', ...TINY, '--out', join(dir, 'swapped'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('z = h float32[?, 12], x = u float32[?, 6] (chosen by --cell-inputs) → h_next');
    expect(r.out).toContain('solver broyden (tol 0.0001, max 50 iterations), backward phantom(3)');
    expect(r.out).toContain('training: sgd lr 0.1 (step)');
    const m = onnx.ModelProto.decode(readFileSync(cellOut));
    expect(m.graph!.input!.map((i) => i.name)).toEqual(['u', 'h']);
    const trained = trainedCellOf(join(dir, 'swapped'));
    const u = new Rng(1).randn([3, 6], 'float32');
    const h = new Rng(2).randn([3, 12], 'float32');
    const lib = await libraryCell(readFileSync(cell), trained, [u, h]);
    expect(relErr(await ortRun(readFileSync(cellOut), { u, h }), lib)).toBeLessThan(1e-5);
  });

  it('forward iteration with the unrolled gradient on onnxruntime-web trains a cell too', async () => {
    const r = await deq('train', '--cell', GATED, '--solver', 'forward', '--backward', 'unrolled', '--max-iter', '15', '--runtime', 'web', ...TINY, '--out', join(dir, 'web'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('execution provider: wasm');
    expect(r.out).toContain('solver forward (tol 0.0001, max 15 iterations), backward unrolled');
    expect(existsSync(join(dir, 'web', 'trained-cell.onnx'))).toBe(true);
  });

  it('a cell that cannot be used says what it expected and what it found, in one line, before training', async () => {
    const fixedBatch = join(dir, 'fixed-batch.onnx');
    writeFileSync(fixedBatch, tanhCellBytes({ inputs: [['z', [2, 3]], ['x', [2, 3]]], output: ['z_next', [2, 3]] }));
    const three = join(dir, 'three.onnx');
    writeFileSync(three, tanhCellBytes({ inputs: [['z', ['b', 3]], ['x', ['b', 3]], ['c', ['b', 3]]] }));
    const resnet = fixture('zoo/resnet_groupnorm.opset17.float32.onnx');
    const out = ['--out', join(dir, 'refused'), ...TINY];
    expect(await refused('train', '--cell', resnet, ...out)).toBe(`deq train: ${resnet}: z (z) is float32[?, 8, 6, 6], images of 6×6, but the data's images are 8×8 (1 channel): export the cell at 8×8, or with dynamic height and width axes (--cell)`);
    expect(await refused('train', '--cell', fixedBatch, ...out)).toMatch(/declares a fixed batch size of 2 for z \(z: float32\[2, 3\]\); .*dynamic_axes=\{'z': \{0: 'batch'\}, \.\.\.\}\) \(--cell\)$/);
    expect(await refused('train', '--cell', three, ...out)).toBe(`deq train: ${three} has 3 inputs (z: float32[?, 3], x: float32[?, 3], c: float32[?, 3]); a cell takes two, the state z and the injected input x (--cell)`);
    expect(await refused('train', '--cell', fixture('cells/swapped_inputs.onnx'), ...out)).toMatch(/z and x were taken by position \(the first and second input\): choose them by name \(--cell\)$/);
    expect(await refused('train', '--cell', GATED, '--cell-inputs', 'z', ...out)).toBe("deq train: --cell-inputs takes two input names, z's then x's, separated by a comma (e.g. --cell-inputs z,x); got 'z'");
    expect(await refused('train', '--cell', GATED, '--cell-inputs', 'z,h', ...out)).toBe(`deq train: ${GATED} has no input named h; its inputs are z: float32[?, 16], x: float32[?, 16] (--cell, --cell-inputs)`);
    expect(await refused('train', '--cell', GATED, '--model', 'conv', ...out)).toBe('deq train: --cell and --model exclude each other: --cell FILE trains a DEQ on the cell in FILE; drop one');
    expect(await refused('train', '--cell-out', 'x.onnx', ...out)).toBe('deq train: --cell-out only applies with --cell FILE');
    expect(await refused('train', '--cell', GATED, '--cell-out', GATED, ...out)).toMatch(/is the source cell file; write the trained cell to another path/);
    expect(await refused('train', '--cell', join(dir, 'none.onnx'), ...out)).toBe(`deq train: cannot read the cell file ${join(dir, 'none.onnx')} (no such file); --cell takes an .onnx file (--cell)`);
    expect(existsSync(join(dir, 'refused', 'checkpoint.deq'))).toBe(false);
  });
});
