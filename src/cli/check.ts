/**
 * `deq check cell.onnx`: the cell's value, VJP, fixed point and implicit gradients on every runtime
 * present, each compared with a float64 reference on onnxruntime-node's CPU provider; one table
 * (or --json), exit status 1 when a difference exceeds the tolerance or a solve does not converge.
 */
import { InputError } from '../core/errors.js';
import { importOnnx, type ImportedModel } from '../onnx/import.js';
import { checkParity, inProcessRunner, PARITY_SOLVE, PARITY_TOLERANCE, randomParityInputs, type ParityRunner } from '../onnx/parity.js';
import type { ParityInputs, ParitySolve } from '../onnx/parity-job.js';
import { readBytes } from '../util/fs.js';
import type { CommandSpec, Parsed } from './args.js';
import { parityTable } from './check-format.js';
import { readParityInputs } from './check-inputs.js';
import { chromiumRunners, nodeWebgpuRunner } from './check-runners.js';
import type { CliIo } from './io.js';

/** Every runtime the command knows, in table order. */
export const CHECK_RUNTIMES = ['node-cpu', 'web-wasm', 'node-webgpu', 'chromium-wasm', 'chromium-webgpu'] as const;
export type CheckRuntime = (typeof CHECK_RUNTIMES)[number];

export const checkSpec: CommandSpec = {
  name: 'check',
  summary: "Check a cell f(z, x) → z_next across runtimes: its value, VJP, fixed point and implicit gradients against a float64 reference on onnxruntime-node's CPU.",
  usage: 'deq check CELL.onnx [options]',
  positional: { name: 'cell', help: 'the cell: an .onnx model whose first input is the state z and whose one output is z_next, shaped like z', required: true },
  flags: [
    { name: 'inputs', kind: 'string', value: 'FILE', help: 'inputs by name from a .json or .npz file (g: the cotangent); default: random N(0, 1) from --seed' },
    { name: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, value: 'N', default: '0', help: 'seed of the random inputs and cotangent' },
    { name: 'batch', kind: 'int', min: 1, max: 4096, value: 'N', default: '2', help: 'size of the symbolic dimensions (the batch axis) of random inputs' },
    { name: 'runtimes', kind: 'string', value: 'LIST', default: CHECK_RUNTIMES.join(','), help: 'comma-separated runtimes to check; absent ones are listed as not present' },
    { name: 'tol-float32', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'X', default: PARITY_TOLERANCE.float32.toExponential(0), help: 'largest relative difference allowed for a float32 cell' },
    { name: 'tol-float64', kind: 'number', min: 0, minExclusive: true, max: 1, value: 'X', default: PARITY_TOLERANCE.float64.toExponential(0), help: 'largest relative difference allowed for a float64 cell' },
    { name: 'solver', kind: 'string', choices: ['anderson', 'forward', 'broyden'], default: 'anderson', help: 'forward solver of the fixed point (the backward solve uses anderson)' },
    { name: 'solve-tol', kind: 'number', min: 0, minExclusive: true, max: 0.1, value: 'X', help: `relative residual at which the solves stop (default: ${PARITY_SOLVE.float32.tol.toExponential(0)} float32, ${PARITY_SOLVE.float64.tol.toExponential(0)} float64)` },
    { name: 'max-iter', kind: 'int', min: 1, max: 1000, value: 'N', help: `iteration limit of each solve (default: ${PARITY_SOLVE.float32.maxIter} float32, ${PARITY_SOLVE.float64.maxIter} float64)` },
    { name: 'chromium', kind: 'string', value: 'PATH', help: 'the Chromium executable (default: the first of /usr/bin/chromium, chromium-browser, google-chrome)' },
    { name: 'json', kind: 'bool', help: 'print the report as JSON instead of the table' },
  ],
  examples: [
    'deq check cell.onnx',
    'deq check cell.onnx --runtimes node-cpu,web-wasm --json',
    'deq check cell.onnx --inputs inputs.npz --tol-float32 1e-5',
  ],
};

/** The runtimes named by --runtimes, or a one-line error. */
export function parseRuntimes(text: string): CheckRuntime[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(CHECK_RUNTIMES as readonly string[]).includes(n));
  if (unknown.length || !names.length) {
    throw new InputError(`deq check: --runtimes takes a comma-separated list of ${CHECK_RUNTIMES.join(', ')}; got '${text}'`);
  }
  return CHECK_RUNTIMES.filter((r) => names.includes(r));
}

export async function checkCommand(f: Parsed, io: CliIo): Promise<number> {
  const path = f.cell as string;
  const seed = (f.seed as number | undefined) ?? 0;
  let runtimes: CheckRuntime[];
  let bytes: Uint8Array;
  let cell: ImportedModel;
  let inputs: ParityInputs;
  let inputsFrom: string;
  try {
    runtimes = parseRuntimes((f.runtimes as string | undefined) ?? CHECK_RUNTIMES.join(','));
    bytes = await readBytes(path).catch((e: Error) => {
      throw new InputError(`cannot read ${path}: ${e.message}`);
    });
    cell = importOnnx(bytes, path);
    if (f.inputs !== undefined) {
      const r = await readParityInputs(f.inputs as string, cell, seed);
      inputs = r.inputs;
      inputsFrom = `from ${f.inputs as string}${r.cotangentFrom === 'seed' ? `, cotangent g from seed ${seed}` : ''}`;
    } else {
      inputs = randomParityInputs(cell, { seed, batch: (f.batch as number | undefined) ?? 2 });
      inputsFrom = `and cotangent g drawn from N(0, 1), seed ${seed}`;
    }
  } catch (e) {
    io.err(`deq check: ${(e as Error).message}`);
    return 2;
  }

  const solve: Partial<ParitySolve> = { solver: ((f.solver as string | undefined) ?? 'anderson') as ParitySolve['solver'] };
  if (f['solve-tol'] !== undefined) Object.assign(solve, { tol: f['solve-tol'], backwardTol: f['solve-tol'] });
  if (f['max-iter'] !== undefined) Object.assign(solve, { maxIter: f['max-iter'], backwardMaxIter: f['max-iter'] });

  const chromium = chromiumRunners({ executable: f.chromium as string | undefined });
  const runners: Record<CheckRuntime, ParityRunner> = {
    'node-cpu': inProcessRunner('node-cpu', { runtime: 'node', executionProviders: ['cpu'] }, 'onnxruntime-node, cpu'),
    'web-wasm': inProcessRunner('web-wasm', { runtime: 'web', executionProviders: ['wasm'] }, 'onnxruntime-web, wasm, in Node'),
    'node-webgpu': nodeWebgpuRunner(),
    'chromium-wasm': chromium.wasm,
    'chromium-webgpu': chromium.webgpu,
  };
  try {
    const report = await checkParity(bytes, inputs, {
      runtimes: runtimes.map((r) => runners[r]),
      reference: runners['node-cpu'],
      tolerance: { float32: f['tol-float32'] as number | undefined, float64: f['tol-float64'] as number | undefined },
      solve,
      onRuntime: (name, stage) => {
        if (stage === 'start') io.status(`deq check: running ${name}…`);
      },
    });
    io.out(f.json ? JSON.stringify(report, null, 2) : parityTable(report, path, inputsFrom));
    return report.ok ? 0 : 1;
  } catch (e) {
    io.err(`deq check: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return 1;
  } finally {
    await chromium.close();
  }
}
