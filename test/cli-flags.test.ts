import { availableParallelism } from 'node:os';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../src/cli/args.js';
import { runCli } from '../src/cli/cli.js';
import { trainConfigFromFlags, trainSpec } from '../src/cli/train.js';
import { capture } from './helpers/cli-io.js';


const threadsMax = 4 * availableParallelism();

describe('every numeric flag has a range, checked before anything loads', () => {
  // each with a data folder that does not exist: the flag must be refused before data is looked at
  const cases: [string[], RegExp][] = [
    [['train', '--max-iter', '1000000000'], /--max-iter must be a whole number from 1 to 1000, got 1000000000/],
    [['train', '--backward', 'phantom', '--phantom-steps', '10000000'], /--phantom-steps must be a whole number from 1 to 100/],
    [['train', '--phantom-steps', '1e7'], /--phantom-steps takes a whole number, got '1e7'/],
    [['train', '--threads', '100000'], new RegExp(`--threads must be a whole number from 1 to ${threadsMax}, got 100000`)],
    [['train', '--threads', '0'], /--threads must be a whole number from 1 to/],
    [['train', '--threads', '-1'], /--threads must be a whole number from 1 to/],
    [['train', '--clip-norm', '-1'], /--clip-norm must be from 0 to 1000000, got -1/],
    [['train', '--weight-decay', '-0.01'], /--weight-decay must be from 0 to 1, got -0.01/],
    [['train', '--test-limit', '0'], /--test-limit must be a whole number from 1 to/],
    [['train', '--test-limit', '-1'], /--test-limit must be a whole number from 1 to/],
    [['train', '--out', ''], /--out needs a non-empty value/],
    [['train', '--out='], /--out needs a non-empty value/],
    [['train', '--epochs', '0x2'], /--epochs takes a whole number, got '0x2'/],
    [['train', '--epochs', ' 1 '], /--epochs takes a whole number, got ' 1 '/],
    [['train', '--seed', '1e20'], /--seed takes a whole number, got '1e20'/],
    [['train', '--seed', '99999999999999999999'], /--seed must be a whole number from 0 to 4294967295/],
    [['train', '--lr', 'Infinity'], /--lr takes a number, got 'Infinity'/],
    [['train', '--lr', 'NaN'], /--lr takes a number, got 'NaN'/],
    [['train', '--lr', '0'], /--lr must be above 0, at most 10, got 0/],
    [['train', '--tol', '1e400'], /--tol must be above 0, at most 1/],
    [['train', '--backward', 'unrolled', '--max-iter', '500'], /--backward unrolled .* --max-iter must be at most 100, got 500/],
    [['train', '--resume', '--overwrite'], /--resume and --overwrite exclude each other/],
    [['plot', '--batch', '0'], /--batch must be a whole number from 1 to 1000, got 0/],
    [['plot', '--max-iter', '0'], /--max-iter must be a whole number from 1 to 1000, got 0/],
    [['plot', '--max-iter', '1e9'], /--max-iter takes a whole number, got '1e9'/],
    [['plot', '--tol', '0'], /--tol must be above 0, at most 1, got 0/],
    [['export', '--batch', '100000'], /--batch must be a whole number from 1 to 512, got 100000/],
    [['export', '--batch', '0'], /--batch must be a whole number from 1 to 512, got 0/],
  ];

  it.each(cases)('%j is one line and exit 2', async (argv, message) => {
    const io = capture();
    const withData = argv[0] === 'train' ? [...argv, '--data', '/no/such/data/folder'] : argv;
    expect(await runCli(withData, io)).toBe(2);
    expect(io.stdout).toEqual([]);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).not.toContain('\n');
    expect(io.stderr[0]).toMatch(message);
  });

  it('values at the ends of each range are accepted', () => {
    const f = parseFlags(trainSpec, [
      '--threads', String(threadsMax), '--seed', '4294967295', '--clip-norm', '0', '--weight-decay', '1', '--lr', '1e-3',
      '--epochs', '10000', '--batch', '1', '--test-limit', '1', '--max-iter', '1000', '--tol', '1', '--augment', '0',
    ]);
    if (E.isLeft(f)) throw f.left;
    const c = trainConfigFromFlags(f.right);
    if (E.isLeft(c)) throw c.left;
    expect(c.right.runtime.intraOpNumThreads).toBe(threadsMax);
    expect(c.right.config.seed).toBe(4294967295);
    expect(c.right.config.clipNorm).toBeUndefined(); // 0 turns clipping off
    expect(c.right.config.lr).toBe(0.001);
    expect(c.right.config.testLimit).toBe(1);
  });

  it('help prints each range', async () => {
    const io = capture();
    expect(await runCli(['train', '--help'], io)).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toMatch(new RegExp(`--threads N .*\\[1 to ${threadsMax}\\]`));
    expect(text).toMatch(/--epochs N .*\[1 to 10000\] \(default: 20\)/);
    expect(text).toMatch(/--tol X .*\[above 0, at most 1\]/);
    expect(text).toMatch(/--clip-norm X .*\[0 to 1000000\]/);
    expect(text).toMatch(/--overwrite /);
  });

  it('a value that looks like a flag is a missing value; a lone dash flag gets no suggestion', async () => {
    let io = capture();
    expect(await runCli(['train', '--epochs', '--lr', '1'], io)).toBe(2);
    expect(io.stderr).toEqual(['deq train: --epochs needs a value, e.g. --epochs 20']);
    io = capture();
    expect(await runCli(['train', '-x'], io)).toBe(2);
    expect(io.stderr).toEqual(['deq train: unknown flag -x (see deq train --help)']);
  });
});
