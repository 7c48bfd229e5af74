/**
 * The throughput table: one row per training run in this browser (kept in localStorage), so runs on
 * WebGPU and wasm, or with other thread counts, can be compared on the same machine.
 */
import { $, el } from './dom.js';

export interface RunRow { provider: string; threads: number; batch: number; solver: string; steps: number; samplesPerSecond: number; msPerStep: number; when: string }

const KEY = 'deq-onnx-demo-runs';

export function loadRows(): RunRow[] {
  try {
    const rows = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(rows) ? (rows as RunRow[]).filter((r) => typeof r?.samplesPerSecond === 'number') : [];
  } catch {
    return [];
  }
}

/** Show the kept rows with `current` (the run in progress, not kept yet) on top. */
export function showRows(current: RunRow | null): void {
  const rows = [...(current ? [current] : []), ...loadRows()];
  $('runs').querySelector('tbody')!.replaceChildren(...rows.map((r) => el('tr', {},
    ...[r.provider, String(r.threads), String(r.batch), r.solver, String(r.steps), r.samplesPerSecond.toFixed(0), r.msPerStep.toFixed(1), r.when].map((c) => el('td', {}, c)))));
}

export function keepRow(row: RunRow): void {
  const rows = [row, ...loadRows()].slice(0, 20);
  try {
    localStorage.setItem(KEY, JSON.stringify(rows));
  } catch {
    // storage full or off: the table shows this page's runs only
  }
}

export function forgetRows(): void {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // nothing kept
  }
}
