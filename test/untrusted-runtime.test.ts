/**
 * Untrusted models, at run time: onnxruntime's failures are OnnxErrors naming the node, its own log
 * lines stay off the terminal unless asked for, and a run can be stopped (time limit or
 * AbortSignal) and its memory capped, by running the session in its own process.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, jit, loadOnnx, np, OnnxError, Tensor, type Value } from '../src/index.js';
import { bundle, runNode } from './helpers/child.js';
import { attr, buildModel, floats, int64s, node, vi } from './helpers/onnx-build.js';

const reshape = () =>
  buildModel({ nodes: [node('Reshape', ['x', 's'], ['y'], [], 'theReshape')], inputs: [vi('x', [4]), vi('s', [1], 7)], outputs: [vi('y', [null])] });
const badShape = [new Tensor('float32', [4]), new Tensor('int64', [1], BigInt64Array.from([5n]))];

describe("onnxruntime's errors are OnnxErrors with the node's name and a plain sentence", () => {
  it('a run of a loaded model that fails in a node', async () => {
    const m = await loadOnnx(reshape());
    const e = await m.run(badShape).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OnnxError);
    const message = (e as Error).message;
    expect(message).toMatch(/^model bytes: node 'theReshape' \(Reshape\) failed in onnxruntime: The input tensor cannot be reshaped to the requested shape\. Input shape:\{4\}, requested shape:\{5\}$/);
    expect(message).not.toMatch(/onnxruntime_src|::/);
    expect(((e as Error).cause as Error).message).toContain("Name:'theReshape'");
    await m.release();
  });

  it('a session onnxruntime refuses to create names the node', async () => {
    const bad = buildModel({ nodes: [node('Add', ['x', 'n'], ['y'], [], 'bad_add')], inputs: [vi('x', [2]), vi('n', [2], 7)], outputs: [vi('y', [2])] });
    await expect(loadOnnx(bad)).rejects.toThrow(OnnxError);
    await expect(loadOnnx(bad)).rejects.toThrow(/could not create a session with any of \[cpu\]: cpu: node 'bad_add' \(Add\): Type Error/);
  });

  it('a jitted call that fails inside onnxruntime', async () => {
    const pick = jit((x: Value, i: Value) => np.take(x, i, 0), { name: 'pick' });
    const e = await pick(new Tensor('float32', [3]), new Tensor('int64', [], BigInt64Array.from([7n]))).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OnnxError);
    expect((e as Error).message).toMatch(/^jit\(pick\): node '\w+' \(Gather\) failed in onnxruntime: indices element out of data bounds, idx=7/);
    await pick.release();
  });
});

describe("onnxruntime's own log lines", () => {
  let script: string | undefined;
  afterAll(() => script && rmSync(script, { force: true }));

  it('stay off stderr by default (CUDA fallback, failing run), and reach it with DEQ_ORT_LOG_LEVEL=error', async () => {
    script = await bundle('test/helpers/log-child.ts');
    const quiet = await runNode(script, [], { timeoutMs: 120_000, env: { DEQ_ORT_LOG_LEVEL: '' } });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(JSON.parse(quiet.stdout.trim())).toMatchObject({ error: 'OnnxError', message: expect.stringContaining("node 'theReshape' (Reshape)") });
    expect(quiet.stderr).not.toMatch(/onnxruntime|\x1b\[/);
    const loud = await runNode(script, [], { timeoutMs: 120_000, env: { DEQ_ORT_LOG_LEVEL: 'error' } });
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/\[E:onnxruntime:.*provider_bridge_ort/);
    expect(loud.stderr).toMatch(/\[E:onnxruntime:.*theReshape/);
  });

  it('a log level that is not one of onnxruntime\'s is an InputError', async () => {
    // @ts-expect-error: not a LogLevel
    await expect(loadOnnx(reshape(), { logLevel: 'loud' })).rejects.toThrow(InputError);
  });
});

/** y = x + M: a Loop adding 1, M times; M is an input, so one model runs short and endless loops. */
const countingLoop = () => {
  const body = {
    name: 'body',
    node: [node('Add', ['v', 'one'], ['v2']), node('Identity', ['cond'], ['cond2'])],
    initializer: [floats('one', [], [1])],
    input: [vi('i', [], 7), vi('cond', [], 9), vi('v', [])],
    output: [vi('cond2', [], 9), vi('v2', [])],
  };
  return buildModel({
    nodes: [node('Loop', ['M', '', 'x'], ['y'], [attr.graph('body', body)], 'counter')],
    inputs: [vi('M', [], 7), vi('x', [])],
    outputs: [vi('y', [])],
  });
};
const trips = (n: bigint) => new Tensor('int64', [], BigInt64Array.from([n]));
const zero = new Tensor('float32', [], Float32Array.from([0]));

describe('run limits: a session in its own process can be stopped and capped', () => {
  it('a Loop of 2^62 trips is stopped by timeoutMs and by an AbortSignal; the next run starts a new process', async () => {
    const m = await loadOnnx(countingLoop(), { isolate: true });
    expect((await m.run({ M: trips(3n), x: zero })).y!.item()).toBe(3);
    const timedOut = await m.run({ M: trips(1n << 62n), x: zero }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(OnnxError);
    expect((timedOut as Error).message).toMatch(/the run was stopped because it ran past timeoutMs \(300 ms\)/);
    const ac = new AbortController();
    const aborted = m.run({ M: trips(1n << 62n), x: zero }, { signal: ac.signal }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 300);
    expect(await aborted).toBeInstanceOf(OnnxError);
    expect(((await aborted) as Error).message).toMatch(/stopped because its AbortSignal aborted/);
    expect((await m.run({ M: trips(5n), x: zero })).y!.item()).toBe(5);
    await m.release();
  });

  it('a timeout given at load applies to every run', async () => {
    const m = await loadOnnx(countingLoop(), { isolate: true, timeoutMs: 300 });
    await expect(m.run({ M: trips(1n << 62n), x: zero })).rejects.toThrow(/ran past timeoutMs \(300 ms\)/);
    await m.release();
  });

  it('ConstantOfShape of 2^29 floats (2 GiB) under maxMemoryMB 1536 is an OnnxError; 2^20 floats run', async () => {
    const model = (n: number) =>
      buildModel({
        nodes: [
          node('ConstantOfShape', ['shape'], ['big'], [attr.tensor('value', floats('v', [1], [1]))]),
          node('ReduceSum', ['big'], ['y'], [attr.int('keepdims', 0)]),
        ],
        initializers: [int64s('shape', [1], [n])],
        inputs: [vi('x', [])],
        outputs: [vi('y', [])],
      });
    const big = await loadOnnx(model(2 ** 29), { isolate: { maxMemoryMB: 1536 } });
    const e = await big.run([zero]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OnnxError);
    expect((e as Error).message).toMatch(/ConstantOfShape|memory/);
    await big.release();
    const small = await loadOnnx(model(2 ** 20), { isolate: { maxMemoryMB: 1536 } });
    expect((await small.run([zero])).y!.item()).toBe(2 ** 20);
    await small.release();
  });

  it('jit: an endless whileLoop is stopped by timeoutMs; an isolated jit computes what an in-process one does', async () => {
    const endless = jit((x: Value) => np.whileLoop((s: Value) => np.greaterEqual(s, 0), (s: Value) => np.add(s, 1), x), { isolate: true, timeoutMs: 300 });
    await expect(endless(new Tensor('float32', [], Float32Array.from([0])))).rejects.toThrow(/ran past timeoutMs \(300 ms\)/);
    await endless.release();
    const f = (x: Value) => np.tanh(np.mul(x, 3));
    const x = new Tensor('float32', [5], Float32Array.from([-1, -0.5, 0, 0.5, 1]));
    const isolated = jit(f, { isolate: true });
    const inProcess = jit(f);
    expect(((await isolated(x)) as Tensor).toArray()).toEqual(((await inProcess(x)) as Tensor).toArray());
    await isolated.release();
    await inProcess.release();
  });

  it('a release during a run rejects that run saying so, not as a crash', async () => {
    const m = await loadOnnx(countingLoop(), { isolate: true });
    const running = m.run({ M: trips(1n << 62n), x: zero }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await m.release();
    const e = await running;
    expect(e).toBeInstanceOf(OnnxError);
    expect((e as Error).message).toMatch(/the session was released during the run/);
    expect((e as Error).message).not.toMatch(/SIGKILL|out of memory/);
    await expect(m.run({ M: trips(3n), x: zero })).rejects.toThrow(/the session was released/);
  });

  it('a per-run timeoutMs that is negative or NaN is an InputError, as at load', async () => {
    const m = await loadOnnx(countingLoop(), { isolate: true });
    for (const timeoutMs of [-5, NaN]) {
      await expect(m.run({ M: trips(3n), x: zero }, { timeoutMs })).rejects.toThrow(InputError);
      await expect(m.run({ M: trips(3n), x: zero }, { timeoutMs })).rejects.toThrow(/timeoutMs must be a non-negative number of milliseconds, got/);
      await expect(loadOnnx(countingLoop(), { isolate: true, timeoutMs })).rejects.toThrow(/timeoutMs must be a non-negative number/);
    }
    // the session was not ended by the refused runs
    expect((await m.run({ M: trips(3n), x: zero })).y!.item()).toBe(3);
    await m.release();
  });

  it('limits on an in-process session are an InputError that says to isolate', async () => {
    const m = await loadOnnx(countingLoop());
    await expect(m.run({ M: trips(3n), x: zero }, { timeoutMs: 1000 })).rejects.toThrow(InputError);
    await expect(m.run({ M: trips(3n), x: zero }, { signal: new AbortController().signal })).rejects.toThrow(/need isolate: true/);
    await expect(loadOnnx(countingLoop(), { timeoutMs: 1000 })).rejects.toThrow(/need isolate: true/);
    await m.release();
  });
});
