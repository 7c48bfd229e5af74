/**
 * The cell panel: `deq check` in the page. A user's .onnx cell f(z, x) → z goes through the
 * library's runParityJob, the job `deq check` runs on each runtime (f, its VJP, the fixed point z*
 * from 0, the implicit gradients). With the WebGPU build the page compares its two providers, WebGPU
 * and wasm, in float32 (that build has no float64 kernels); with the wasm build, checkParity
 * compares wasm with the float64 reference, as `deq check` does.
 */
import * as deq from '../src/browser.js';
import type { CellRun, ParityColumn, ParityRunner } from '../src/browser.js';
import { $, el, message } from './dom.js';
import type { PageEnv, Provider } from './env.js';
import { runs } from './lock.js';
import { endCapture, startCapture, takePrinted } from './printed.js';
import { type Placement, summarise } from './training.js';

/** checkParity's columns, in its table's order (deq check prints the same). */
const COLUMNS: [ParityColumn, string][] = [['f', 'f'], ['vjp', 'vjp'], ['zStar', 'z*'], ['dx', 'dL/dx'], ['dtheta', 'dL/dθ']];

export interface ProviderRun { provider: Provider; run: CellRun; placement: Placement | null }

export interface CellResult {
  name: string;
  dtype: string;
  inputs: { name: string; shape: number[] }[];
  runs: ProviderRun[];
  /** What the first run was compared with: the other provider, or the float64 reference. */
  against: string;
  /** The largest relative differences from it, per column. */
  diff: Record<ParityColumn, number | null>;
}

export class CellPanel {
  last: CellResult | { name: string; error: string } | null = null;

  constructor(private readonly env: PageEnv) {
    const input = $<HTMLInputElement>('cell-file');
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      input.value = ''; // the same file chosen again is checked again
      if (file) void this.load(file);
    });
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const file = e.dataTransfer?.files[0];
      if (file) void this.load(file);
    });
  }

  async load(file: File): Promise<void> {
    const out = $('cell-result');
    out.replaceChildren(el('p', { className: 'status' }, `checking ${file.name}… (waits for a gap between training steps)`));
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const result = await runs.with(() => this.check(file.name, bytes));
      this.last = result;
      this.show(result);
    } catch (e) {
      this.last = { name: file.name, error: message(e) };
      out.replaceChildren(el('p', { className: 'error' }, `${file.name}: ${message(e)}`));
    }
  }

  private async check(name: string, bytes: Uint8Array): Promise<CellResult> {
    const model = deq.importOnnx(bytes, name);
    const dtype = model.inputs[0]?.dtype;
    if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`${name}: the first input, the state z, must be float32 or float64, got ${dtype ?? 'no inputs'}`);
    const inputs = deq.randomParityInputs(model, { seed: 0 });
    const shapes = model.inputs.map((i) => ({ name: i.name, shape: [...inputs.values[i.name]!.shape] }));
    // onnxruntime-web prints its profile (where each node ran); the runs read what the page keeps
    const hooks = { printedProfile: takePrinted };
    startCapture();
    try {
      if (this.env.provider === 'webgpu') {
        if (dtype === 'float64') throw new Error(`${name} is a float64 cell: WebGPU and onnxruntime-web's WebGPU build have no float64 kernels; switch the page to wasm`);
        const job = { model: bytes, inputs, solve: deq.PARITY_SOLVE.float32 };
        const done: ProviderRun[] = [];
        for (const provider of ['webgpu', 'wasm'] as const) {
          const run = await deq.runParityJob(job, { runtime: 'web', executionProviders: [provider], profile: provider === 'webgpu' }, hooks);
          done.push({ provider, run, placement: run.placement ? summarise(run.placement) : null });
        }
        return { name, dtype, inputs: shapes, runs: done, against: 'wasm (float32)', diff: deq.compareRuns(done[0]!.run, done[1]!.run).diff };
      }
      // the wasm build: deq check's comparison with the cell widened to float64, solved to 1e-12
      let kept: CellRun | undefined;
      const wasm = deq.inProcessRunner('wasm', { runtime: 'web', executionProviders: ['wasm'] }, 'onnxruntime-web, wasm', hooks);
      const keep: ParityRunner = { ...wasm, run: async (job) => { const r = await wasm.run(job); if (!('absent' in r)) kept = r; return r; } };
      const report = await deq.checkParity(bytes, inputs, { runtimes: [keep], reference: 'web-wasm' });
      const row = report.rows[0]!;
      if (!kept || !row.diff) throw new Error(`${row.status}: ${row.reason ?? 'no result'}`);
      return { name, dtype, inputs: shapes, runs: [{ provider: 'wasm', run: kept, placement: null }], against: `the float64 reference (${report.reference.widened ? 'the cell widened to float64, ' : ''}solved to 1e-12 on wasm)`, diff: row.diff };
    } finally {
      endCapture();
    }
  }

  private show(r: CellResult): void {
    const fmt = (d: number | null | undefined) => (d === null || d === undefined ? '–' : d.toExponential(1));
    const first = r.runs[0]!;
    const z = first.run.zStar;
    const rows = r.runs.map((p) => el('tr', {},
      el('td', {}, p.provider), el('td', {}, `${p.run.iterations.forward} / ${p.run.iterations.backward}`),
      el('td', {}, p.run.converged ? 'yes' : 'no'), el('td', {}, p.run.seconds.toFixed(1)), el('td', {}, placementText(p))));
    const parity = el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, ''), ...COLUMNS.map(([, label]) => el('th', {}, label)))),
      el('tbody', {}, el('tr', {}, el('td', {}, `${first.provider} vs ${r.against}`), ...COLUMNS.map(([c]) => el('td', {}, fmt(r.diff[c]))))));
    $('cell-result').replaceChildren(
      el('p', {}, `${r.name}: ${r.dtype} cell, inputs ${r.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')} (random, seed 0).`),
      el('p', {}, `Fixed point on ${first.provider}: z* [${z.shape.join(', ')}] = ${z.toArray().slice(0, 6).map((v) => v.toFixed(4)).join(', ')}${z.size > 6 ? ', …' : ''}`),
      el('table', {}, el('thead', {}, el('tr', {}, ...['provider', 'iterations fwd / bwd', 'converged', 'seconds', 'nodes'].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)),
      parity,
      el('p', { className: 'note' }, `Largest relative difference, max |a − b| / max |b|, of f, its VJP, the fixed point and the implicit gradients (${deq.PARITY_SOLVE[r.dtype as 'float32'].solver} to ${deq.PARITY_SOLVE[r.dtype as 'float32'].tol.toExponential()}).`),
    );
  }
}

function placementText(p: ProviderRun): string {
  if (!p.placement) return p.provider === 'wasm' ? 'all on the CPU (its only provider)' : 'not in the profile';
  const counts = Object.entries(p.placement.nodes).map(([k, n]) => `${n} ${k}`).join(', ');
  return `${counts}${p.placement.cpuOps.length && p.provider !== 'wasm' ? `; on the CPU: ${p.placement.cpuOps.join(', ')}` : ''}`;
}
