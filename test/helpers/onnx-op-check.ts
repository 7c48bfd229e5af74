/**
 * One op of the import, checked from a one-node model: values against onnxruntime running the
 * model itself (float32; float64 where onnxruntime has the kernel, else against its float32 result
 * on the same float32-representable data), on onnxruntime-node and onnxruntime-web; and, in
 * float64, JVPs and VJPs against central differences with respect to every input the op's
 * declaration lists as differentiable — fed as graph inputs, and again as initializers through
 * `params`, by name.
 */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { type DType, importOnnx, jit, loadOnnx, Rng, Tensor, type Value } from '../../src/index.js';
import { onnxOps } from '../../src/onnx/ops/index.js';
import { differentiableInputs } from '../../src/onnx/ops/table.js';
import { expectGradsOk, relErr } from './gradcheck.js';
import { type Attr, nodeModel } from './onnx-node.js';

export interface InputSpec {
  name: string;
  /** Random float data of this shape (in the dtype under test). */
  shape?: number[];
  /** Random data in [0.5, 2] instead of normal (logs, roots, divisors). */
  positive?: boolean;
  /** Fixed values: integers (int64 unless dtype says), bools, or floats ('float': the dtype under test). */
  values?: number[];
  valueShape?: number[];
  dtype?: 'int64' | 'int32' | 'bool' | 'float' | 'float32' | 'float64';
  /** Bound as a constant when the imported model runs, even if float (inputs that must be known at import). */
  constant?: boolean;
  /** An empty optional input. */
  absent?: boolean;
}

export interface OpCase {
  op: string;
  label?: string;
  opset?: number;
  inputs: InputSpec[];
  attrs?: Record<string, Attr>;
  outputs?: number;
  /** Output dtypes: 'same' is the float dtype under test (default for every output). */
  outDtypes?: ('same' | DType)[];
  /** Extra tolerance factor for float32 comparisons (fused kernels against composites). */
  tol32?: number;
  /** Tolerance against onnxruntime's float64 result where it computes part of the op in float32. */
  tol64?: number;
}

export const caseName = (c: OpCase): string => `${c.op}${c.label ? ` (${c.label})` : ''}`;

const F32_TOL = 2e-5;
// old-opset cases make onnxruntime warn that its transpose optimizer skips them: the checks say enough
ort.env.logLevel = 'error';

/** f32-representable data, so that float32 and float64 runs see the same numbers. */
function makeInputs(c: OpCase, dtype: 'float32' | 'float64', seed = 7): (readonly [string, Tensor] | undefined)[] {
  const rng = new Rng(seed);
  return c.inputs.map((s) => {
    if (s.absent) return undefined;
    if (s.values) {
      const dt: DType = s.dtype === 'float' ? dtype : s.dtype ?? 'int64';
      const shape = s.valueShape ?? [s.values.length];
      const t = new Tensor(dt, shape);
      s.values.forEach((v, i) => {
        if (dt === 'int64') (t.data as BigInt64Array)[i] = BigInt(v);
        else (t.data as Float64Array)[i] = dt === 'float32' || dt === 'float64' ? Math.fround(v) : v;
      });
      return [s.name, t] as const;
    }
    const r = s.positive ? rng.uniform(s.shape!, 'float64', 0.5, 2) : rng.randn(s.shape!, 'float64');
    const t = new Tensor(dtype, r.shape, dtype === 'float32' ? Float32Array.from(r.toArray()) : Float64Array.from(r.toArray(), Math.fround));
    return [s.name, t] as const;
  });
}

const isFloatT = (t: Tensor) => t.dtype === 'float32' || t.dtype === 'float64';
/** Which present inputs the imported function traces (floats not marked constant). */
const tracedMask = (c: OpCase, present: Tensor[]): boolean[] => {
  const specs = c.inputs.filter((s) => !s.absent);
  return present.map((t, i) => isFloatT(t) && !specs[i]!.constant);
};

function modelOf(c: OpCase, inputs: (readonly [string, Tensor] | undefined)[], dtype: DType, initializers: string[] = []): Uint8Array {
  const outs = c.outputs ?? 1;
  const outDtypes = Array.from({ length: outs }, (_, i) => {
    const d = c.outDtypes?.[i] ?? 'same';
    return d === 'same' ? dtype : d;
  });
  return nodeModel({ op: c.op, opset: c.opset ?? 18, inputs, initializers, attrs: c.attrs, outputs: outs, outDtypes });
}

/** Run the imported model with float inputs traced and the others bound as constants. */
async function runImported(bytes: Uint8Array, inputs: Tensor[], isTraced: boolean[], runtime: 'node' | 'web'): Promise<Tensor[]> {
  const m = importOnnx(bytes, 'case');
  const traced = inputs.filter((_, i) => isTraced[i]);
  const f = jit((...xs: Value[]) => {
    let k = 0;
    return m.fn(...inputs.map((t, i) => (isTraced[i] ? xs[k++]! : t)));
  }, { runtime, checkFinite: false });
  try {
    return (await f(...traced)) as Tensor[];
  } finally {
    await f.compile(...traced).then((s) => s.session.release());
  }
}

/** onnxruntime's outputs, or undefined where it refuses the model (float64: a missing kernel, or a function body that mixes in float32). */
async function runOrt(bytes: Uint8Array, inputs: Tensor[], n: number, dtype: DType): Promise<Tensor[] | undefined> {
  let model;
  try {
    model = await loadOnnx(bytes);
  } catch (e) {
    if (dtype === 'float64') return undefined;
    throw e;
  }
  try {
    const out = await model.run(inputs);
    return Array.from({ length: n }, (_, i) => out[`y${i}`]!);
  } finally {
    await model.release();
  }
}

function expectSame(got: Tensor, want: Tensor, tol: number, what: string): void {
  expect([...got.shape], `${what}: shape`).toEqual([...want.shape]);
  if (isFloatT(want)) {
    expect(isFloatT(got), `${what}: dtype ${got.dtype}`).toBe(true);
    expect(relErr(got, want), `${what}: relative error`).toBeLessThanOrEqual(tol);
  } else {
    expect(got.dtype, `${what}: dtype`).toBe(want.dtype);
    expect(got.toArray(), what).toEqual(want.toArray());
  }
}

/** Values in float32 and float64 on node and web, against onnxruntime on the model itself. */
export async function checkValues(c: OpCase): Promise<void> {
  const n = c.outputs ?? 1;
  let ref32: Tensor[] | undefined;
  for (const dtype of ['float32', 'float64'] as const) {
    const inputs = makeInputs(c, dtype);
    const present = inputs.filter((x) => x !== undefined).map((x) => x[1]);
    const bytes = modelOf(c, inputs, dtype);
    const ort = await runOrt(bytes, present, n, dtype);
    if (dtype === 'float32') {
      expect(ort, 'onnxruntime runs the float32 model').toBeDefined();
      ref32 = ort;
    }
    // without a float64 kernel: onnxruntime's float32 result on the same (float32-representable) data
    const [want, tol] = ort ? [ort, dtype === 'float32' ? F32_TOL * (c.tol32 ?? 1) : c.tol64 ?? 1e-10] : [ref32!, F32_TOL * (c.tol32 ?? 1)];
    for (const runtime of ['node', 'web'] as const) {
      const got = await runImported(bytes, present, tracedMask(c, present), runtime);
      for (let i = 0; i < n; i++) {
        // a float64 output compared with float32 onnxruntime: compare values, not dtypes
        const w = want[i]!;
        const g = got[i]!;
        const wantTensor = !ort && isFloatT(w) ? new Tensor('float64', w.shape, Float64Array.from(w.toArray())) : w;
        const gotTensor = !ort && isFloatT(g) ? new Tensor('float64', g.shape, Float64Array.from(g.toArray())) : g;
        expectSame(gotTensor, wantTensor, tol, `${caseName(c)} ${dtype} on ${runtime}, output ${i}`);
        if (ort && isFloatT(w)) expect(g.dtype, `${caseName(c)} ${dtype} output ${i} dtype`).toBe(w.dtype);
      }
    }
  }
}

/** The case's float inputs its op's declaration lists as differentiable. */
export function differentiated(c: OpCase): string[] {
  const spec = onnxOps.get(c.op);
  if (!spec) throw new Error(`no ONNX op ${c.op}`);
  const names = new Set(differentiableInputs(spec).map((i) => i.name));
  const variadic = spec.inputs[spec.inputs.length - 1]?.variadic ? spec.inputs[spec.inputs.length - 1]!.name : undefined;
  return c.inputs.filter((s, i) => !s.absent && (s.values === undefined || s.dtype === 'float') &&
    (names.has(spec.inputs[Math.min(i, spec.inputs.length - 1)]!.name) || (variadic !== undefined && i >= spec.inputs.length - 1 && names.has(variadic))))
    .map((s) => s.name);
}

/** float64 derivatives of output 0 with respect to the differentiable inputs: as graph inputs, then as initializers. */
export async function checkDerivatives(c: OpCase): Promise<void> {
  const wrt = differentiated(c);
  // callers register this test only for cases with inputs to differentiate
  const inputs = makeInputs(c, 'float64', 11);
  const present = inputs.filter((x) => x !== undefined);
  const byName = new Map(present.map(([n, t]) => [n, t]));
  const args = wrt.map((n) => byName.get(n)!);

  // as graph inputs
  const m = importOnnx(modelOf(c, inputs, 'float64'), caseName(c));
  const asInputs = (...xs: Value[]) => {
    const given = new Map(wrt.map((n, i) => [n, xs[i]!]));
    return m.fn(...present.map(([n, t]) => given.get(n) ?? t))[0]!;
  };
  await expectGradsOk(asInputs, args);

  // as initializers: gradients by name through params
  const mi = importOnnx(modelOf(c, inputs, 'float64', wrt), caseName(c));
  expect(Object.keys(mi.params).sort(), `${caseName(c)}: the initializers are params`).toEqual([...wrt].sort());
  const rest = present.filter(([n]) => !wrt.includes(n)).map(([, t]) => t);
  const asParams = (...ps: Value[]) => mi.apply(Object.fromEntries(wrt.map((n, i) => [n, ps[i]!])), ...rest)[0]!;
  await expectGradsOk(asParams, args);
}
