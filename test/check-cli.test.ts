/**
 * `deq check` end to end, in process (runCli): the table for the runtimes asked for, exit 0 within
 * the tolerance and 1 beyond it, --json, inputs from .npz and .json files, runtimes that are not
 * present listed with the reason, and bad usage refused with exit 2 before anything runs.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import type { ParityReport } from '../src/index.js';
import { capture as captureIo } from './helpers/cli-io.js';

const CELL = 'test/fixtures/zoo/gated.opset17.float32.onnx';

const capture = () => captureIo({ splitLines: true });

async function check(...argv: string[]) {
  const io = capture();
  const code = await runCli(['check', ...argv], io);
  return { code, out: io.stdout, err: io.stderr };
}

const row = (out: string[], runtime: string) => out.find((l) => l.startsWith(`${runtime} `));

describe('deq check', () => {
  it('prints the table for node-cpu and web-wasm and exits 0', async () => {
    const { code, out, err } = await check(CELL, '--runtimes', 'node-cpu,web-wasm');
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toBe(`deq check ${CELL}: float32 cell z_next = f(z, x), z [2, 16], x [2, 16], 9 weights; inputs and cotangent g drawn from N(0, 1), seed 0`);
    expect(out[1]).toMatch(/^reference: float64 on onnxruntime-node, cpu \(the cell's float32 weights, constants and inputs converted to float64\), solved to 1e-12: \d+ forward, \d+ backward iterations$/);
    expect(out).toContain('runtime   status  f       vjp     z*      iters  dL/dx   dL/dθ   placement (nodes per provider)');
    expect(row(out, 'node-cpu')).toMatch(/^node-cpu  ok( +\d\.\de-[5-9]){3} +\d+\/\d+( +\d\.\de-[5-9]){2} +cpu: \d+$/);
    expect(row(out, 'web-wasm')).toMatch(/^web-wasm  ok .* wasm: every node \(the session's only provider\)$/);
    expect(out.at(-1)).toBe('ok: 2 runtimes within 1e-4 of the reference');
  }, 120_000);

  it('exits 1 when a difference exceeds the tolerance: a float32 cell held to 1e-9', async () => {
    const { code, out } = await check(CELL, '--runtimes', 'node-cpu', '--tol-float32', '1e-9');
    expect(code).toBe(1);
    expect(row(out, 'node-cpu')).toMatch(/^node-cpu  fail( +\d\.\de-\d!){3} /);
    expect(out.at(-1)).toMatch(/^FAIL node-cpu: f \d\.\de-\d > 1e-9; vjp .*; z\* .*; dL\/dx .*; dL\/dθ \d\.\de-\d > 1e-9 \([\w.]+\)$/);
  }, 60_000);

  it('--json prints the report as data; inputs from .npz and from the zoo\'s .json give the same numbers', async () => {
    const npz = await check(CELL, '--runtimes', 'node-cpu', '--json', '--inputs', 'test/fixtures/npz/gated-inputs.npz');
    const json = await check(CELL, '--runtimes', 'node-cpu', '--json', '--inputs', 'test/fixtures/zoo/gated.opset17.float32.json');
    expect([npz.code, json.code]).toEqual([0, 0]);
    const a = JSON.parse(npz.out.join('\n')) as ParityReport;
    const b = JSON.parse(json.out.join('\n')) as ParityReport;
    expect(a.ok).toBe(true);
    expect(a.rows[0]).toMatchObject({ runtime: 'node-cpu', status: 'ok', provider: 'cpu', converged: true });
    expect(a.rows[0]!.diff).toEqual(b.rows[0]!.diff);
    expect(a.reference.iterations).toEqual(b.reference.iterations);
  }, 120_000);

  it('runtimes that cannot run here are listed as not present, with why, and do not fail the check', async () => {
    const { code, out } = await check(CELL, '--runtimes', 'node-cpu,chromium-wasm,chromium-webgpu', '--chromium', '/nonexistent/chromium');
    expect(code).toBe(0);
    expect(row(out, 'chromium-wasm')).toBe('chromium-wasm    absent  not present: chromium not found at /nonexistent/chromium');
    expect(row(out, 'chromium-webgpu')).toBe('chromium-webgpu  absent  not present: chromium not found at /nonexistent/chromium');
    expect(out.at(-1)).toBe('ok: 1 runtime within 1e-4 of the reference (2 not present)');
  }, 60_000);

  it('refuses bad usage with one line and exit 2, before anything runs', async () => {
    const cases: [string[], RegExp][] = [
      [[], /deq check: needs cell: deq check CELL.onnx \[options\]/],
      [[CELL, '--runtimes', 'node-gpu'], /--runtimes takes a comma-separated list of node-cpu, web-wasm, node-webgpu, chromium-wasm, chromium-webgpu; got 'node-gpu'/],
      [[CELL, '--tol-float32', '0'], /--tol-float32 must be above 0, at most 1, got 0/],
      [[CELL, '--max-iter', '5000'], /--max-iter must be a whole number from 1 to 1000/],
      [[CELL, 'second.onnx'], /unexpected argument 'second.onnx'/],
      [['no/such/cell.onnx'], /deq check: cannot read no\/such\/cell.onnx/],
      [[CELL, '--inputs', 'test/fixtures/npz/kinds.npz'], /--inputs test\/fixtures\/npz\/kinds.npz lacks z, x; it holds f4, f8, i4, i8, b1, scalar/],
      [[CELL, '--inputs', 'test/fixtures/npz/float16.npz'], /dtype <f2 is not supported/],
      [[CELL, '--inputs', 'README.md'], /give a .json or .npz file/],
    ];
    for (const [argv, message] of cases) {
      const { code, out, err } = await check(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(message);
    }
  });

  it('is listed by deq --help, and deq check --help documents the argument and every flag with its range', async () => {
    const io = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/^ {2}check {3}/m);
    const { code, out } = await check('--help');
    expect(code).toBe(0);
    const text = out.join('\n');
    for (const s of ['Usage: deq check CELL.onnx', 'Arguments:', '--inputs FILE', '--runtimes LIST', '--tol-float32 X', '[above 0, at most 1] (default: 1e-4)', '(default: 1e-9)', '--json', '--chromium PATH']) expect(text).toContain(s);
  });
});
