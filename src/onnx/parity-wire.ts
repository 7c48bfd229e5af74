/**
 * Parity jobs and results as JSON-safe data, to send a job to a child process or a browser page
 * and bring the result back bit for bit: tensors travel as base64 of their bytes (NaN, Inf and
 * every float64 digit survive), the model as base64 too.
 */
import type { DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { CellRun, ParityJob } from './parity-job.js';

export interface WireTensor { dtype: DType; shape: number[]; base64: string }
type WireMap = Record<string, WireTensor>;

export interface WireJob {
  model: string;
  inputs: { values: WireMap; cotangent: WireTensor };
  solve: ParityJob['solve'];
}

export interface WireRun extends Omit<CellRun, 'f' | 'vjp' | 'zStar' | 'implicit'> {
  f: WireTensor;
  vjp: { inputs: WireMap; params: WireMap };
  zStar: WireTensor;
  implicit: { inputs: WireMap; params: WireMap };
}

const CHUNK = 0x8000;

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeTensor(t: Tensor): WireTensor {
  const d = t.data;
  return { dtype: t.dtype, shape: [...t.shape], base64: toBase64(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)) };
}

export function decodeTensor(w: WireTensor): Tensor {
  const bytes = fromBase64(w.base64);
  const t = new Tensor(w.dtype, w.shape);
  if (bytes.length !== t.data.byteLength) throw new InputError(`a ${w.dtype}[${w.shape.join(', ')}] tensor needs ${t.data.byteLength} bytes, got ${bytes.length}`);
  new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(bytes);
  return t;
}

const mapOf = <A, B>(m: Record<string, A>, f: (a: A) => B): Record<string, B> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]));

export const encodeJob = (j: ParityJob): WireJob => ({
  model: toBase64(j.model),
  inputs: { values: mapOf(j.inputs.values, encodeTensor), cotangent: encodeTensor(j.inputs.cotangent) },
  solve: j.solve,
});

export const decodeJob = (w: WireJob): ParityJob => ({
  model: fromBase64(w.model),
  inputs: { values: mapOf(w.inputs.values, decodeTensor), cotangent: decodeTensor(w.inputs.cotangent) },
  solve: w.solve,
});

export const encodeRun = (r: CellRun): WireRun => ({
  ...r,
  f: encodeTensor(r.f),
  vjp: { inputs: mapOf(r.vjp.inputs, encodeTensor), params: mapOf(r.vjp.params, encodeTensor) },
  zStar: encodeTensor(r.zStar),
  implicit: { inputs: mapOf(r.implicit.inputs, encodeTensor), params: mapOf(r.implicit.params, encodeTensor) },
});

export const decodeRun = (w: WireRun): CellRun => ({
  ...w,
  f: decodeTensor(w.f),
  vjp: { inputs: mapOf(w.vjp.inputs, decodeTensor), params: mapOf(w.vjp.params, decodeTensor) },
  zStar: decodeTensor(w.zStar),
  implicit: { inputs: mapOf(w.implicit.inputs, decodeTensor), params: mapOf(w.implicit.params, decodeTensor) },
});
