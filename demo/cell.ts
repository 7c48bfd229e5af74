/**
 * The cell panel: `deq check` in the page. A user's .onnx cell f(z, x) → z runs through the
 * library's runParityJob (the job `deq check` runs on each runtime: f, its VJP, the fixed point z*
 * from 0 and the implicit gradients) on each of the page's providers, and the runs are compared.
 * onnxruntime-web's WebGPU build has no float64 kernels, even on its CPU provider, so the float64
 * reference of `deq check` is left to Node, and float64 cells need the wasm-only build (?ort=wasm).
 */
import * as deq from '../src/browser.js';
import type { CellRun, ParityColumn } from '../src/browser.js';
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
  /** The second provider's largest relative differences from the first's, per column; null with one provider. */
  diff: Record<ParityColumn, number | null> | null;
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
    const providers: Provider[] = [];
    if (dtype === 'float64' && this.env.build === 'webgpu') {
      throw new Error(`${name} is a float64 cell: onnxruntime-web's WebGPU build has no float64 kernels; open the page with ?ort=wasm (its wasm-only build has them)`);
    }
    if (dtype === 'float32' && !('absent' in this.env.adapter)) providers.push('webgpu');
    providers.push('wasm');
    const inputs = deq.randomParityInputs(model, { seed: 0 });
    const job = { model: bytes, inputs, solve: deq.PARITY_SOLVE[dtype] };
    const done: ProviderRun[] = [];
    for (const provider of providers) {
      // WebGPU is profiled: onnxruntime-web prints where each node ran, and the page reads it
      startCapture();
      try {
        const run = await deq.runParityJob(job, { runtime: 'web', executionProviders: [provider], profile: provider === 'webgpu' }, { printedProfile: takePrinted });
        done.push({ provider, run, placement: run.placement ? summarise(run.placement) : null });
      } finally {
        endCapture();
      }
    }
    return {
      name, dtype,
      inputs: model.inputs.map((i) => ({ name: i.name, shape: [...inputs.values[i.name]!.shape] })),
      runs: done,
      diff: done.length > 1 ? deq.compareRuns(done[0]!.run, done[1]!.run).diff : null,
    };
  }

  private show(r: CellResult): void {
    const fmt = (d: number | null | undefined) => (d === null || d === undefined ? '–' : d.toExponential(1));
    const first = r.runs[0]!;
    const z = first.run.zStar;
    const rows = r.runs.map((p) => el('tr', {},
      el('td', {}, p.provider), el('td', {}, `${p.run.iterations.forward} / ${p.run.iterations.backward}`),
      el('td', {}, p.run.converged ? 'yes' : 'no'), el('td', {}, p.run.seconds.toFixed(1)), el('td', {}, placementText(p))));
    const parity = r.diff
      ? el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, ''), ...COLUMNS.map(([, label]) => el('th', {}, label)))),
        el('tbody', {}, el('tr', {}, el('td', {}, `${r.runs[0]!.provider} vs ${r.runs[1]!.provider}`), ...COLUMNS.map(([c]) => el('td', {}, fmt(r.diff![c]))))))
      : el('p', { className: 'note' }, 'One provider here (no WebGPU adapter, or the wasm-only build): nothing to compare it with in the page; deq check compares it with a float64 reference in Node.');
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
