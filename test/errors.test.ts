/** Bad input gives a typed error that names the op, the shapes or dtypes, and the fix. */
import { describe, expect, it } from 'vitest';
import { DTypeError, grad, jit, NonFiniteError, np, ShapeError, tensor, TraceError, zeros, type Value } from '../src/index.js';

/** Trace `fn` on `args` through jit and return the error it throws (or rejects with). */
async function errorOf(fn: (...xs: Value[]) => unknown, ...args: Parameters<typeof zeros>[]): Promise<Error> {
  try {
    await jit(fn)(...args.map(([s, d]) => zeros(s, d)));
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('shape errors', () => {
  it('add of shapes that do not broadcast names the op and both shapes', async () => {
    const e = await errorOf(np.add, [[2, 3], 'float32'], [[4, 3], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/^add: /);
    expect(e.message).toContain('[2, 3]');
    expect(e.message).toContain('[4, 3]');
  });

  it('matmul with mismatched inner dimensions names both shapes and suggests a fix', async () => {
    const e = await errorOf(np.matmul, [[2, 3], 'float32'], [[4, 5], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/^matmul: /);
    expect(e.message).toContain('[2, 3]');
    expect(e.message).toContain('[4, 5]');
    expect(e.message).toContain('np.mT');
  });

  it('matmul with 1-D operands names the shapes the user passed', async () => {
    const e = await errorOf(np.matmul, [[3], 'float32'], [[4], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain('[3]');
    expect(e.message).toContain('[4]');
  });

  it('matmul with batch axes that do not broadcast', async () => {
    const e = await errorOf(np.matmul, [[2, 3, 4], 'float32'], [[5, 4, 2], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/matmul/);
    expect(e.message).toContain('[2]');
    expect(e.message).toContain('[5]');
  });

  it('conv2d with a channel mismatch names both shapes', async () => {
    const e = await errorOf((x, w) => np.conv2d(x, w), [[1, 3, 8, 8], 'float32'], [[4, 2, 3, 3], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/^conv2d: /);
    expect(e.message).toContain('[1, 3, 8, 8]');
    expect(e.message).toContain('[4, 2, 3, 3]');
  });

  it('conv2d with a rank-3 input, and with a kernel larger than the input', async () => {
    const e = await errorOf((x, w) => np.conv2d(x, w), [[3, 8, 8], 'float32'], [[4, 3, 3, 3], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain('[3, 8, 8]');
    const e2 = await errorOf((x, w) => np.conv2d(x, w), [[1, 3, 2, 2], 'float32'], [[4, 3, 3, 3], 'float32']);
    expect(e2).toBeInstanceOf(ShapeError);
    expect(e2.message).toMatch(/^conv2d: /);
  });

  it('conv2d with a zero stride or negative padding', async () => {
    const e = await errorOf((x, w) => np.conv2d(x, w, { stride: 0 }), [[1, 1, 4, 4], 'float32'], [[1, 1, 2, 2], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/^conv2d: stride/);
    expect(await errorOf((x, w) => np.conv2d(x, w, { padding: -1 }), [[1, 1, 4, 4], 'float32'], [[1, 1, 2, 2], 'float32'])).toBeInstanceOf(ShapeError);
  });

  it('crossEntropy with labels that do not fit the logits', async () => {
    const e = await errorOf((l, y) => np.crossEntropy(l, y), [[4, 3], 'float32'], [[5], 'int64']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/^crossEntropy: .*\[5\].*\[4, 3\]/);
  });

  it('reshape, axis, concat and slice errors', async () => {
    const r = await errorOf((x) => np.reshape(x, [4, 2]), [[2, 3], 'float32']);
    expect(r).toBeInstanceOf(ShapeError);
    expect(r.message).toMatch(/reshape.*\[2, 3\].*\[4, 2\]/);
    expect(await errorOf((x) => np.sum(x, 2), [[2, 3], 'float32'])).toBeInstanceOf(ShapeError);
    expect(await errorOf((a, b) => np.concat([a, b], 0), [[2, 3], 'float32'], [[2, 4], 'float32'])).toBeInstanceOf(ShapeError);
    expect(await errorOf((x) => np.slice(x, [0, 0], [3, 3]), [[2, 3], 'float32'])).toBeInstanceOf(ShapeError);
  });

  it('reshape with a -1 that cannot be resolved', async () => {
    const e = await errorOf((x) => np.reshape(x, [2, -1]), [[3], 'float32']);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/reshape.*\[3\].*\[2, -1\]/);
    expect(await errorOf((x) => np.reshape(x, [-1, -1]), [[4], 'float32'])).toBeInstanceOf(ShapeError);
  });

  it('grad of a non-scalar function', async () => {
    await expect(grad((x: Value) => np.tanh(x))(zeros([3], 'float64'))).rejects.toThrow(ShapeError);
  });
});

describe('dtype errors', () => {
  it('add of float32 and float64 names both dtypes and the fix', async () => {
    const e = await errorOf(np.add, [[2], 'float32'], [[2], 'float64']);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/^add: /);
    expect(e.message).toContain('float32');
    expect(e.message).toContain('float64');
    expect(e.message).toContain('np.astype');
  });

  it('matmul and conv2d with mixed dtypes', async () => {
    expect(await errorOf(np.matmul, [[2, 2], 'float32'], [[2, 2], 'float64'])).toBeInstanceOf(DTypeError);
    expect(await errorOf((x, w) => np.conv2d(x, w), [[1, 1, 3, 3], 'float64'], [[1, 1, 2, 2], 'float32'])).toBeInstanceOf(DTypeError);
  });

  it('float-only maths on an integer input, and where with a non-bool condition', async () => {
    const e = await errorOf(np.tanh, [[2], 'int64']);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toContain('tanh');
    expect(e.message).toContain('int64');
    expect(await errorOf((c, a) => np.where(c, a, a), [[2], 'float32'], [[2], 'float32'])).toBeInstanceOf(DTypeError);
  });

  it('concat of mixed dtypes', async () => {
    const e = await errorOf((a, b) => np.concat([a, b]), [[2], 'float64'], [[1], 'float32']);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/^concat: /);
  });

  it('a fractional number with an integer tensor', async () => {
    const e = await errorOf((x) => np.mul(x, 0.5), [[2], 'int64']);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toContain('0.5');
    expect(e.message).toContain('np.astype');
  });

  it('sum of bools and mean of integers ask for a float conversion', async () => {
    const e = await errorOf((x) => np.sum(np.greater(x, 0)), [[3], 'float32']);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/^sum: .*np\.astype/);
    const m = await errorOf((x) => np.mean(x), [[3], 'int64']);
    expect(m).toBeInstanceOf(DTypeError);
    expect(m.message).toMatch(/^mean: .*int64/);
  });

  it('grad with respect to an int64 input says gradients need floats', async () => {
    const labels = tensor([1, 2], 'int64');
    const err = await grad((l: Value) => np.sum(np.astype(l, 'float32')))(labels).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DTypeError);
    expect((err as Error).message).toContain('int64');
    expect((err as Error).message).toMatch(/float32\/float64/);
    // the same input is fine when argnums excludes it
    const g = await grad((x: Value, l: Value) => np.sum(np.mul(x, np.astype(l, 'float64'))), { argnums: 0 })(tensor([1, 1], 'float64'), labels);
    expect(Array.from((g as { toArray(): number[] }).toArray())).toEqual([1, 2]);
  });
});

describe('trace and value errors', () => {
  it('np ops outside a traced function throw TraceError with the fix', () => {
    expect(() => np.tanh(zeros([2]))).toThrow(TraceError);
    expect(() => np.tanh(zeros([2]))).toThrow(/tanh.*outside a traced function.*jit/);
  });

  it('jit with a NaN input throws NonFiniteError naming the input', async () => {
    const x = tensor([1, Number.NaN], 'float64');
    const err = await jit((x: Value) => np.exp(x))(x).catch((e: Error) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toContain('float64[2]');
    expect((err as Error).message).toContain('checkFinite');
    // and the check can be turned off
    const y = await jit((x: Value) => np.exp(x), { checkFinite: false })(x);
    expect(Number.isNaN((y as { toArray(): number[] }).toArray()[1])).toBe(true);
  });
});
