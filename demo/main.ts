/**
 * The demo page: train the MLP DEQ on the bundled digits, draw a digit, check a cell of your own,
 * compare throughput, on onnxruntime-web's WebGPU or wasm provider. window.deqDemo exposes what the
 * page shows, for the browser test.
 */
import * as deq from '../src/browser.js';
import type { DataSplit } from '../src/train/dataset.js';
import { CellPanel } from './cell.js';
import { $, message } from './dom.js';
import { Drawing } from './drawing.js';
import { ortVersion, pageEnv, type PageEnv, pageUrl, type Provider } from './env.js';
import { forgetRows, keepRow, type RunRow, showRows } from './runs.js';
import { commandOf, configOf, mlpOf, type Settings, throughput, Training } from './training.js';

async function loadDigits(): Promise<DataSplit> {
  const res = await fetch(new URL('digits.bin', location.href));
  if (!res.ok) throw new Error(`digits.bin: HTTP ${res.status} (npm run build writes it)`);
  return deq.train.splitDigits(deq.train.unpackDigits(new Uint8Array(await res.arrayBuffer()), 'digits.bin'));
}

function describeEnv(env: PageEnv): string {
  const gpu = 'absent' in env.adapter ? `no WebGPU: ${env.adapter.absent}` : `WebGPU adapter: ${env.adapter.description}${env.adapter.fallback ? ' (a software fallback adapter)' : ''}`;
  const coi = env.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (the server sends no COOP/COEP headers), so wasm runs on 1 thread';
  return `onnxruntime-web ${ortVersion()}, its ${env.provider === 'webgpu' ? 'WebGPU' : 'wasm'} build · ${gpu} · wasm threads: ${env.threads} of ${env.maxThreads} · ${coi}`;
}

function readSettings(form: HTMLFormElement, provider: Provider): Settings {
  const f = new FormData(form);
  const int = (k: string) => Math.trunc(Number(f.get(k)));
  return {
    provider,
    solver: f.get('solver') as Settings['solver'],
    backward: f.get('backward') as Settings['backward'],
    tol: Number(f.get('tol')),
    epochs: int('epochs'), batch: int('batch'), samples: int('samples'), seed: int('seed'),
  };
}

function setUpForm(form: HTMLFormElement, env: PageEnv): void {
  const webgpu = form.querySelector<HTMLInputElement>('input[value=webgpu]')!;
  webgpu.disabled = 'absent' in env.adapter;
  if (webgpu.disabled) webgpu.parentElement!.title = (env.adapter as { absent: string }).absent;
  form.querySelector<HTMLInputElement>(`input[value=${env.provider}]`)!.checked = true;
  const threads = form.querySelector<HTMLSelectElement>('select[name=threads]')!;
  for (let n = 1; n <= env.maxThreads; n++) threads.append(new Option(String(n), String(n), false, n === env.threads));
  // the provider picks onnxruntime-web's build and the threads are fixed when it starts: both reload
  threads.addEventListener('change', () => location.assign(pageUrl(env.provider, Number(threads.value))));
  for (const radio of form.querySelectorAll<HTMLInputElement>('input[name=ep]')) {
    radio.addEventListener('change', () => location.assign(pageUrl(radio.value as Provider, env.threads)));
  }
  const command = () => ($('command').textContent = commandOf(readSettings(form, env.provider)));
  form.addEventListener('input', command);
  command();
}

async function main(): Promise<void> {
  const env = await pageEnv();
  if (!env) return; // reloading with the wasm build
  $('env').textContent = describeEnv(env);
  const form = $<HTMLFormElement>('settings');
  setUpForm(form, env);
  const data = await loadDigits();

  const row = (t: Training): RunRow | null => {
    const r = throughput(t.state.steps);
    const s = t.state.settings;
    return r && s ? { provider: t.state.provider ?? s.provider, threads: env.threads, batch: s.batch, solver: s.solver, steps: r.steps, samplesPerSecond: r.samplesPerSecond, msPerStep: r.msPerStep, when: new Date().toLocaleTimeString() } : null;
  };
  let shownAt = 0;
  const training = new Training(data, (t) => {
    const status = t.state.status;
    $<HTMLButtonElement>('pause').disabled = status !== 'running' && status !== 'paused';
    $('pause').textContent = status === 'paused' ? 'Resume' : 'Pause';
    const ended = status === 'done' || status === 'stopped' || status === 'failed';
    const r = row(t);
    if (ended && r) keepRow(r);
    if (ended || performance.now() - shownAt > 1000) {
      shownAt = performance.now();
      showRows(ended ? null : r);
    }
  });
  showRows(null);

  // before any training, the draw panel predicts with a fresh (untrained) model
  const fresh = mlpOf(configOf(readSettings(form, env.provider)));
  const init = fresh.init(new deq.Rng(0));
  const drawing = new Drawing({
    current() {
      const s = training.state;
      if (s.model && s.settings) return { model: s.model, params: s.params, state: s.state, provider: s.settings.provider, key: JSON.stringify(s.settings) };
      return { model: fresh, params: init.params, state: init.state, provider: env.provider, key: 'untrained' };
    },
  }, (_p, error) => {
    if (error) $('solve').textContent = `prediction failed: ${error}`;
  });
  const cell = new CellPanel(env);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    training.start(readSettings(form, env.provider)).catch((err) => {
      $('progress').textContent = `not started: ${message(err)}`;
    });
  });
  $('pause').addEventListener('click', () => (training.state.status === 'paused' ? training.unpause() : training.pause()));
  $('forget').addEventListener('click', () => {
    forgetRows();
    showRows(null);
  });

  Object.assign(window, { deqDemo: { env, training: training.state, drawing: () => drawing.last, cell: () => cell.last, ready: true } });
}

main().catch((e) => {
  $('env').textContent = `the page could not start: ${message(e)}`;
  $('env').classList.add('error');
  Object.assign(window, { deqDemo: { ready: true, error: message(e) } });
});
