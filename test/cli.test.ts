import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { parseFlags } from '../src/cli/args.js';
import { trainConfigFromFlags, trainSpec } from '../src/cli/train.js';
import * as E from 'fp-ts/lib/Either.js';
import { capture } from './helpers/cli-io.js';


describe('deq help', () => {
  it('lists the commands', async () => {
    const io = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    const text = io.stdout.join('\n');
    for (const c of ['train', 'plot', 'export']) expect(text).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('documents every flag of each subcommand', async () => {
    const expected: Record<string, string[]> = {
      train: ['--model mlp|mlp-newton|conv', '--solver forward|anderson|broyden|newton', '--backward implicit|phantom|jfb|unrolled', '--epochs N', '--batch N', '--lr X', '--data mnist|DIR', '--runtime node|web', '--ep cpu|cuda|webgpu', '--seed N', '--out DIR', '--resume', '--help'],
      plot: ['--out DIR', '--model', '--tol X', '--max-iter N'],
      export: ['--out DIR', '--batch N', '--dtype float32|float64'],
    };
    for (const [cmd, flags] of Object.entries(expected)) {
      const io = capture();
      expect(await runCli([cmd, '--help'], io)).toBe(0);
      const text = io.stdout.join('\n');
      expect(text).toContain(`Usage: deq ${cmd}`);
      for (const f of flags) expect(text).toContain(f);
    }
  });
});

describe('bad input', () => {
  const oneLine = async (argv: string[]) => {
    const io = capture();
    const code = await runCli(argv, io);
    expect(code).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).not.toContain('\n');
    return io.stderr[0]!;
  };

  it('a misspelt flag gets one line naming the right one', async () => {
    expect(await oneLine(['train', '--epoch', '3'])).toBe('deq train: unknown flag --epoch; did you mean --epochs? (see deq train --help)');
  });
  it('a bad choice names the allowed values', async () => {
    expect(await oneLine(['train', '--solver', 'fast'])).toMatch(/--solver must be one of forward, anderson, broyden, newton, newtonKrylov; got 'fast'/);
  });
  it('a missing or non-numeric value shows an example', async () => {
    expect(await oneLine(['train', '--epochs'])).toMatch(/--epochs needs a value, e\.g\. --epochs 20/);
    expect(await oneLine(['train', '--lr', 'fast'])).toMatch(/--lr takes a number, got 'fast'/);
    expect(await oneLine(['train', '--batch', '2.5'])).toMatch(/--batch takes a whole number/);
  });
  it('an unknown command suggests the closest', async () => {
    expect(await oneLine(['trian'])).toMatch(/did you mean 'deq train'/);
  });
  it('a data folder that does not exist says how to fix it', async () => {
    expect(await oneLine(['train', '--data', '/no/such/dir'])).toBe('deq train: data folder /no/such/dir does not exist; use mnist for the bundled digits, a CIFAR-10 binary folder or a folder with MNIST idx files (--data)');
  });
});

describe('train flags', () => {
  it('map to a configuration: phantom steps, providers with a cpu fallback, optimizer-dependent lr', () => {
    const f = parseFlags(trainSpec, ['--backward', 'phantom', '--phantom-steps', '3', '--ep', 'cuda', '--optimizer', 'adam', '--epochs=2']);
    if (E.isLeft(f)) throw f.left;
    const c = trainConfigFromFlags(f.right);
    if (E.isLeft(c)) throw c.left;
    expect(c.right.config.deq).toMatchObject({ backward: { phantom: 3 } });
    expect(c.right.runtime.executionProviders).toEqual(['cuda', 'cpu']);
    expect(c.right.config.lr).toBe(0.004);
    expect(c.right.config.clipNorm).toBe(2);
    expect(c.right.config.epochs).toBe(2);
    const bad = parseFlags(trainSpec, ['--phantom-steps', '3']);
    if (E.isLeft(bad)) throw bad.left;
    const r = trainConfigFromFlags(bad.right);
    expect(E.isLeft(r) && r.left.message).toMatch(/add --backward phantom/);
  });
});

describe('deq export', () => {
  it('writes each cell, its VJP and JVP graph with a manifest, and the files run', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadOnnx, Rng } = await import('../src/index.js');
    const out = mkdtempSync(join(tmpdir(), 'deq-export-'));
    const io = capture();
    expect(await runCli(['export', '--out', out, '--batch', '2', '--dtype', 'float64'], io)).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { models: { file: string; inputs: { name: string; shape: number[] }[] }[] };
    expect(manifest.models.map((m) => m.file).sort()).toEqual([
      'resnet_cell.cell.onnx', 'resnet_cell.jvp.onnx', 'resnet_cell.vjp.onnx', 'tanh_cell.cell.onnx', 'tanh_cell.jvp.onnx', 'tanh_cell.vjp.onnx',
    ]);
    // the tanh cell computes tanh(z W + x)
    const cell = await loadOnnx(join(out, 'tanh_cell.cell.onnx'));
    const rng = new Rng(4);
    // the batch axis is symbolic: run the batch-2 export at batch 3
    expect(cell.inputs.find((i) => i.name === 'z')!.shape[0]).toBeNull();
    const feeds = Object.fromEntries(cell.inputs.map((i) => [i.name, rng.randn(i.shape.map((d) => d ?? 3), 'float64', 0.3)]));
    const y = Object.values(await cell.run(feeds))[0]!;
    const [z, x, W] = [feeds.z!, feeds.x!, feeds['params.W']!].map((t) => t.toArray());
    const n = W.length === 0 ? 0 : Math.round(Math.sqrt(W.length));
    for (const [b, j] of [[0, 0], [2, n - 1]] as const) {
      let acc = x[b * n + j]!;
      for (let k = 0; k < n; k++) acc += z[b * n + k]! * W[k * n + j]!;
      expect(y.toArray()[b * n + j]).toBeCloseTo(Math.tanh(acc), 12);
    }
    await cell.release();
  });
});

describe('deq train flag values', () => {
  it('rejects bad numbers in one line before loading anything', async () => {
    for (const [argv, msg] of [
      [['train', '--epochs', '-3'], /^deq train: --epochs must be a whole number from 1 to 10000, got -3$/],
      [['train', '--augment', '-1'], /^deq train: --augment must be a whole number from 0 to 8, got -1$/],
    ] as const) {
      const io = capture();
      expect(await runCli([...argv], io)).not.toBe(0);
      expect(io.stdout).toEqual([]);
      expect(io.stderr).toHaveLength(1);
      expect(io.stderr[0]).toMatch(msg);
    }
  });
});
