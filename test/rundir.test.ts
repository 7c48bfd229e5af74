import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { Tensor } from '../src/index.js';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { SettingError } from '../src/train/errors.js';
import { trainRun, type TrainConfig } from '../src/train/run.js';
import { prepareRunDir } from '../src/train/rundir.js';
import { tinySplit, writeIdxFolder } from './helpers/tiny-data.js';
import { capture } from './helpers/cli-io.js';


const tmp = (name: string) => mkdtempSync(join(tmpdir(), `deq-${name}-`));
const data = writeIdxFolder(join(tmp('data'), 'idx'));
const train = (out: string, ...more: string[]) => ['train', '--data', data, '--epochs', '1', '--batch', '16', '--out', out, ...more];

/** A CLI run that fails with exit 2 and one line on stderr; `early`: before anything was loaded or printed. */
async function refused(argv: string[], early = true): Promise<string> {
  const io = capture();
  expect(await runCli(argv, io)).toBe(2);
  if (early) expect(io.stdout).toEqual([]);
  expect(io.stdout.join('\n')).not.toMatch(/Epoch/);
  expect(io.stderr).toHaveLength(1);
  return io.stderr[0]!;
}

describe('--out is checked before training', () => {
  it('/proc/x fails at once with one line (a recursive mkdir there spins forever)', async () => {
    expect(await refused(train('/proc/x'))).toBe('deq train: cannot create the folder /proc/x (ENOENT); choose a folder you can write to (--out)');
  }, 20_000);

  it('/dev/null and an existing file are not folders', async () => {
    expect(await refused(train('/dev/null'))).toMatch(/^deq train: \/dev\/null exists and is not a folder; choose a folder to write to \(--out\)$/);
    const file = join(tmp('file'), 'f');
    writeFileSync(file, 'x');
    expect(await refused(train(file))).toMatch(/exists and is not a folder.*\(--out\)$/);
    expect(await refused(train(join(file, 'sub')))).toMatch(/exists and is not a folder/);
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable folder fails before the first epoch', async () => {
    const dir = tmp('ro');
    chmodSync(dir, 0o500);
    expect(await refused(train(dir))).toMatch(/cannot write to the folder .*\(EACCES\).*\(--out\)$/);
  });

  it('a folder holding a checkpoint is refused without --resume or --overwrite, and --overwrite replaces it', async () => {
    const out = tmp('twice');
    expect(await runCli(train(out), capture())).toBe(0);
    const before = readFileSync(join(out, 'checkpoint.deq'));
    expect(await refused(train(out, '--seed', '5'))).toBe(`deq train: ${out} already holds a checkpoint; resume from it, overwrite it, or write to another folder (--resume, --overwrite, --out)`);
    expect(readFileSync(join(out, 'checkpoint.deq')).equals(before)).toBe(true);
    expect(await runCli(train(out, '--seed', '5', '--overwrite'), capture())).toBe(0);
    const after = loadCheckpoint(join(out, 'checkpoint.deq'));
    expect(E.isRight(after) && (after.right.meta.config as TrainConfig).seed).toBe(5);
  });
});

describe('a damaged checkpoint is refused on --resume and left as it was', () => {
  const trained = async () => {
    const out = tmp('damaged');
    expect(await runCli(train(out), capture())).toBe(0);
    return out;
  };

  /** Rewrite the checkpoint's header with `edit` (the same bytes otherwise). */
  const editHeader = (path: string, edit: (h: any) => void) => {
    const bytes = new Uint8Array(readFileSync(path));
    const len = new DataView(bytes.buffer).getUint32(8, true);
    const h = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
    edit(h);
    const json = new TextEncoder().encode(JSON.stringify(h));
    const oldStart = (12 + len + 7) & ~7;
    const start = (12 + json.length + 7) & ~7;
    const out = new Uint8Array(start + bytes.length - oldStart);
    out.set(bytes.subarray(0, 8));
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 12);
    out.set(bytes.subarray(oldStart), start);
    writeFileSync(path, out);
  };

  /** Rewrite the checkpoint's trees with `edit`, as a well-formed file. */
  const editTrees = (path: string, edit: (trees: any) => void) => {
    const ck = decodeCheckpoint(new Uint8Array(readFileSync(path)));
    if (E.isLeft(ck)) throw ck.left;
    edit(ck.right.trees);
    writeFileSync(path, encodeCheckpoint(ck.right));
  };

  const cases: [string, (path: string) => void, RegExp][] = [
    // this one once "resumed" with header bytes as weights and overwrote the file
    ['a negative data offset', (p) => editHeader(p, (h) => { h.trees.params.leaves[0].tensor.offset = -8; }), /offset is -8, not a count/],
    ['leaves that are not a list', (p) => editHeader(p, (h) => { h.trees.optState.leaves = null; }), /leaves is not a list/],
    ['params of another shape', (p) => editTrees(p, (t) => {
      const first = Object.keys(t.params).sort()[0]!;
      const w = Object.values(t.params[first] as Record<string, Tensor>)[0]!;
      t.params[first][Object.keys(t.params[first])[0]!] = new Tensor(w.dtype, [w.shape[0]! + 1, ...w.shape.slice(1)]);
    }), /params leaf 0 is float32 \[\d+.*; the model has float32/],
    ['an optimizer moment that overflowed', (p) => editTrees(p, (t) => {
      const v = Object.values(t.optState.v as Record<string, Record<string, Tensor>>)[0]!;
      (Object.values(v)[0]!.data as Float32Array)[0] = Infinity;
    }), /optState leaf \d+ holds non-finite values/],
    ['an optimizer state of another structure', (p) => editTrees(p, (t) => { delete t.optState.m; }), /optState have another structure/],
    ['a history that is not per epoch', (p) => editHeader(p, (h) => { h.meta.history = [{ epoch: 7 }]; }), /history entry 0 is not epoch 1/],
  ];

  it.each(cases)('%s', async (_what, damage, reason) => {
    const out = await trained();
    const path = join(out, 'checkpoint.deq');
    damage(path);
    const bytes = readFileSync(path);
    // the trees are compared with the model's, which is built once the data is loaded
    const line = await refused(train(out, '--epochs', '2', '--resume'), false);
    expect(line.startsWith(`deq train: damaged checkpoint ${path} (`)).toBe(true);
    expect(line.endsWith('): train again or point --out elsewhere')).toBe(true);
    expect(line).toMatch(reason);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('deq plot gives the same line for a damaged checkpoint', async () => {
    const out = await trained();
    const path = join(out, 'checkpoint.deq');
    editHeader(path, (h) => { h.trees.params.leaves[0].tensor.offset = -8; });
    expect(await refused(['plot', '--out', out])).toMatch(/^deq plot: damaged checkpoint .*\(.*offset is -8.*\): train again or point --out elsewhere$/);
  });
});

describe('temp files left by a killed write', () => {
  it('are removed by the next run; other files and a live writer\'s temp files stay', async () => {
    const out = tmp('killed');
    expect(await runCli(train(out), capture())).toBe(0);
    // pid 99999999 is above Linux's pid_max: a writer that no longer runs
    const stale = ['checkpoint.deq.99999999.k1ll3d.tmp', 'metrics.json.99999999.x7.tmp', '.write-test.99999999.a.tmp'];
    const kept = ['notes.99999999.a.tmp', `checkpoint.deq.${process.pid}.live.tmp`, 'readme.txt'];
    for (const f of [...stale, ...kept]) writeFileSync(join(out, f), 'partial');
    expect(await runCli(train(out, '--epochs', '2', '--resume'), capture())).toBe(0);
    const left = readdirSync(out);
    for (const f of stale) expect(left).not.toContain(f);
    for (const f of kept) expect(left).toContain(f);
    expect(left).toContain('checkpoint.deq');
  });

  it('are removed by prepareRunDir even when the run is then refused', () => {
    const out = tmp('refused');
    writeFileSync(join(out, 'checkpoint.deq'), 'old');
    writeFileSync(join(out, 'checkpoint.deq.99999999.zz.tmp'), 'partial');
    const r = prepareRunDir(out);
    expect(E.isLeft(r) && r.left).toBeInstanceOf(SettingError);
    expect(existsSync(join(out, 'checkpoint.deq.99999999.zz.tmp'))).toBe(false);
  });
});

describe('training errors name settings, not flags', () => {
  const config: TrainConfig = { model: 'mlp', deq: {}, optimizer: 'adam', schedule: 'constant', lr: 1e-3, epochs: 1, batchSize: 16, seed: 0 };

  const settingError = async (c: TrainConfig, split = tinySplit(), outDir?: string) => {
    const r = await trainRun(c, split, outDir === undefined ? {} : { outDir })();
    if (E.isRight(r)) throw new Error('expected the run to fail');
    expect(r.left).toBeInstanceOf(SettingError);
    expect(r.left.message).not.toMatch(/--/);
    return r.left as SettingError;
  };

  it('a batch larger than the training set, an empty test set, bad numbers, an unusable folder', async () => {
    const big = await settingError({ ...config, batchSize: 200 });
    expect(big.message).toBe('batch size 200 is larger than the 56 training samples (8 more are held out for validation); use a smaller batch size');
    expect(big.settings).toEqual(['batchSize', 'trainLimit', 'validation']);
    const split = tinySplit();
    const empty = await settingError(config, { ...split, test: { images: new Tensor('float32', [0, 1, 8, 8]), labels: new Tensor('int64', [0]) } });
    expect(empty.message).toMatch(/test set of tiny random digits is empty/);
    expect((await settingError({ ...config, clipNorm: -1 })).settings).toEqual(['clipNorm']);
    expect((await settingError({ ...config, weightDecay: -0.1 })).settings).toEqual(['weightDecay']);
    expect((await settingError({ ...config, testLimit: 0 })).settings).toEqual(['testLimit']);
    expect((await settingError({ ...config, seed: 1e20 })).settings).toEqual(['seed']);
    const proc = await settingError(config, split, '/proc/x');
    expect(proc.settings).toEqual(['outDir']);
    expect(proc.message).toMatch(/cannot create the folder \/proc\/x/);
  });
});
