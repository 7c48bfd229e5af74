/** Plain-JS reference implementations (float64, row-major) that the ONNX results are compared with. */
import { expect } from 'vitest';
import { Tensor } from '../../src/index.js';

type Shape = readonly number[];

export const sizeOf = (s: Shape): number => s.reduce((a, b) => a * b, 1);
export const unravel = (i: number, s: Shape): number[] => {
  const idx = new Array<number>(s.length);
  for (let k = s.length - 1; k >= 0; k--) {
    idx[k] = i % s[k]!;
    i = Math.floor(i / s[k]!);
  }
  return idx;
};
const ravel = (idx: readonly number[], s: Shape): number => idx.reduce((acc, v, k) => acc * s[k]! + v, 0);

export const values = (t: Tensor): number[] => t.toArray();
export const f64 = (shape: Shape, data: ArrayLike<number>): Tensor => new Tensor('float64', shape, Float64Array.from(data));

export function broadcastShape(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}
/** The element of `t` that broadcasting maps to output index `idx`. */
const at = (t: Tensor, idx: readonly number[]): number => {
  const off = idx.length - t.shape.length;
  const own = t.shape.map((d, k) => (d === 1 ? 0 : idx[off + k]!));
  return Number(t.data[ravel(own, t.shape)]);
};

export function binaryRef(a: Tensor, b: Tensor, fn: (x: number, y: number) => number): Tensor {
  const s = broadcastShape(a.shape, b.shape);
  const out = new Float64Array(sizeOf(s));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, s);
    out[i] = fn(at(a, idx), at(b, idx));
  }
  return f64(s, out);
}
export const mapRef = (a: Tensor, fn: (x: number) => number): Tensor => f64(a.shape, values(a).map(fn));

export function transposeRef(a: Tensor, perm: readonly number[]): Tensor {
  const s = perm.map((p) => a.shape[p]!);
  const out = new Float64Array(sizeOf(s));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, s);
    const src = new Array<number>(a.shape.length);
    perm.forEach((p, k) => { src[p] = idx[k]!; });
    out[i] = Number(a.data[ravel(src, a.shape)]);
  }
  return f64(s, out);
}

export function reduceRef(a: Tensor, axes: readonly number[], keepdims: boolean, init: number, fn: (acc: number, x: number) => number): Tensor {
  const kept = a.shape.map((d, k) => (axes.includes(k) ? 1 : d));
  const out = new Float64Array(sizeOf(kept)).fill(init);
  for (let i = 0; i < a.size; i++) {
    const idx = unravel(i, a.shape).map((v, k) => (axes.includes(k) ? 0 : v));
    const j = ravel(idx, kept);
    out[j] = fn(out[j]!, Number(a.data[i]));
  }
  return f64(keepdims ? kept : a.shape.filter((_, k) => !axes.includes(k)), out);
}

export function matmulRef(a: Tensor, b: Tensor): Tensor {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const s = [...batch, m, n];
  const out = new Float64Array(sizeOf(s));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, s);
    const bi = idx.slice(0, -2);
    const [r, c] = idx.slice(-2) as [number, number];
    let acc = 0;
    for (let q = 0; q < k; q++) acc += at(a, [...bi, r, q]) * at(b, [...bi, q, c]);
    out[i] = acc;
  }
  return f64(s, out);
}

export interface ConvRefParams {
  stride: [number, number];
  /** [top, left, bottom, right] */
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

/** out[n, o, y, x] = Σ_{c, i, j} xpad[n, g·C/G + c, y·s + i·d, x·s + j·d] · w[o, c, i, j]: a naive loop. */
export function conv2dRef(x: Tensor, w: Tensor, p: ConvRefParams): Tensor {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const og = o / p.groups;
  const ho = Math.floor((h + p.padding[0] + p.padding[2] - p.dilation[0] * (kh - 1) - 1) / p.stride[0]) + 1;
  const wo = Math.floor((wd + p.padding[1] + p.padding[3] - p.dilation[1] * (kw - 1) - 1) / p.stride[1]) + 1;
  const out = new Float64Array(n * o * ho * wo);
  const X = (b: number, ch: number, y: number, xx: number) =>
    y < 0 || y >= h || xx < 0 || xx >= wd ? 0 : Number(x.data[((b * c + ch) * h + y) * wd + xx]);
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) {
    const g = Math.floor(oc / og);
    for (let y = 0; y < ho; y++) for (let xx = 0; xx < wo; xx++) {
      let acc = 0;
      for (let ic = 0; ic < cg; ic++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        const yy = y * p.stride[0] + i * p.dilation[0] - p.padding[0];
        const xi = xx * p.stride[1] + j * p.dilation[1] - p.padding[1];
        acc += X(b, g * cg + ic, yy, xi) * Number(w.data[((oc * cg + ic) * kh + i) * kw + j]);
      }
      out[((b * o + oc) * ho + y) * wo + xx] = acc;
    }
  }
  return f64([n, o, ho, wo], out);
}

/** The adjoint of conv2dRef in its first argument (scatter form), producing an [n, C, h, w] input. */
export function convTranspose2dRef(u: Tensor, w: Tensor, p: ConvRefParams, outHW: [number, number]): Tensor {
  const [n, o, ho, wo] = u.shape as [number, number, number, number];
  const [, cg, kh, kw] = w.shape as [number, number, number, number];
  const og = o / p.groups;
  const c = cg * p.groups;
  const [h, wd] = outHW;
  const out = new Float64Array(n * c * h * wd);
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) {
    const g = Math.floor(oc / og);
    for (let y = 0; y < ho; y++) for (let xx = 0; xx < wo; xx++) {
      const val = Number(u.data[((b * o + oc) * ho + y) * wo + xx]);
      for (let ic = 0; ic < cg; ic++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        const yy = y * p.stride[0] + i * p.dilation[0] - p.padding[0];
        const xi = xx * p.stride[1] + j * p.dilation[1] - p.padding[1];
        if (yy < 0 || yy >= h || xi < 0 || xi >= wd) continue;
        out[((b * c + g * cg + ic) * h + yy) * wd + xi] += val * Number(w.data[((oc * cg + ic) * kh + i) * kw + j]);
      }
    }
  }
  return f64([n, c, h, wd], out);
}

/** Assert equal shapes and values within `tol`, relative to the largest magnitude (floor 1). */
export function expectClose(actual: Tensor, expected: Tensor, tol = 1e-12): void {
  expect([...actual.shape]).toEqual([...expected.shape]);
  const a = values(actual);
  const e = values(expected);
  let scale = 1;
  let diff = 0;
  for (let i = 0; i < e.length; i++) {
    scale = Math.max(scale, Math.abs(e[i]!));
    diff = Math.max(diff, Number.isNaN(a[i]!) !== Number.isNaN(e[i]!) ? Infinity : Number.isNaN(a[i]!) ? 0 : Math.abs(a[i]! - e[i]!));
  }
  expect(diff / scale).toBeLessThanOrEqual(tol);
}

/** erf(x) = 2/√π·exp(−x²)·Σ 2ⁿx²ⁿ⁺¹/(2n+1)!!: every term positive, so double precision holds to a few ulps. */
export function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 400 && Math.abs(term) > 1e-18 * Math.abs(sum); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}
