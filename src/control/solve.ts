/**
 * Dense batched linear algebra: the solve X = A⁻¹ B (A [..., n, n], B [..., n, k]) and the inverse.
 * ONNX has no solve operator. Where onnxruntime's contrib operator Inverse is available (its CPU and
 * wasm providers), the solve is A⁻¹ B through it (LU with partial pivoting, batched), with one step
 * of iterative refinement for large systems; elsewhere (WebGPU, exported files) it expands to
 * Gauss–Jordan elimination, unrolled for small systems and in one Loop over the pivot for large.
 * The derivative rules are the primitives' own (never through either expansion): for the solve
 * dX = A⁻¹ (dB − dA X) and the transpose in B is Aᵀ⁻¹; for the inverse d(A⁻¹) = −A⁻¹ dA A⁻¹.
 */
import { ShapeError, TransformError } from '../core/errors.js';
import { definePrimitive, type Primitive, type Target, Undefined, type Value } from '../core/primitive.js';
import { eye, iota, sizeOf, Tensor } from '../core/tensor.js';
import { bind1 } from '../core/trace.js';
import { foriLoop } from './loop.js';
import { abs, add, astype, equal, greaterEqual, mul, neg, sub, where, div } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { argmax } from '../ops/reduce.js';
import { batchFirst, broadcastTo, concat, expandDims, mT, reshape, sliceAxis, sum, transpose } from '../ops/shape.js';
import { take } from '../ops/indexing.js';
import { dtypeOf, fmtShape, requireFloat, sameDType, shapeOf, shapesEqual } from '../ops/util.js';

/**
 * Gauss–Jordan in one Loop over the pivot index, batch last ([n, n+k, batch]) so that the row and
 * column taken at the traced index are contiguous runs.
 */
function eliminateLoop(aug: Value, n: number, pivoting: boolean): Value {
  const dt = dtypeOf(aug);
  const rows = reshape(iota(n), [n, 1]);
  const t0 = transpose(aug, [1, 2, 0]); // [n, n+k, nb]
  const out = foriLoop(n, (i, t: Value) => {
    const eI = astype(equal(rows, i), dt); // [n, 1]
    let u = t;
    if (pivoting) {
      // partial pivoting: swap row i with the row of the largest |entry| at or below it
      const cand = where(greaterEqual(rows, i), astype(abs(take(t, i, 1)), 'float32'), -1); // [n, nb]
      const eP = astype(equal(rows, argmax(cand, 0, true)), dt); // [n, nb]
      const rowP = sum(mul(t, expandDims(eP, 1)), 0); // [n+k, nb]
      u = add(t, mul(expandDims(sub(eI, eP), 1), sub(rowP, take(t, i, 0))));
    }
    const row = take(u, i, 0); // [n+k, nb]
    const rowN = div(row, take(row, i, 0));
    // rows j ≠ i lose col_j · rowN; row i becomes rowN
    return sub(u, mul(expandDims(sub(take(u, i, 1), eI), 1), rowN));
  }, t0);
  return transpose(out, [2, 0, 1]);
}

/** Largest n for which the elimination is unrolled into the graph. */
const UNROLL_MAX = 16;

function eliminateUnrolled(aug: Value, n: number, nb: number, pivoting: boolean): Value {
  const dt = dtypeOf(aug);
  const rowsIdx = iota(n);
  let m = aug;
  if (!pivoting) {
    // symmetric positive definite systems need no row exchanges. The batch goes last so that every
    // slice and broadcast works on contiguous runs (many tiny matrices are slow batch-first).
    let t = transpose(m, [1, 2, 0]); // [n, n+k, nb]
    for (let i = 0; i < n; i++) {
      const row = sliceAxis(t, 0, i, i + 1); // [1, n+k, nb]
      const rowN = div(row, sliceAxis(row, 1, i, i + 1));
      const eRow = new Tensor(dt, [n, 1, 1]);
      (eRow.data as Float64Array)[i] = 1;
      // rows j ≠ i: subtract col_j · rowN; row i: becomes rowN
      const col = sub(sliceAxis(t, 1, i, i + 1), eRow); // [n, 1, nb]
      t = sub(t, mul(col, rowN));
    }
    return transpose(t, [2, 0, 1]);
  }
  for (let i = 0; i < n; i++) {
    const col = reshape(sliceAxis(m, 2, i, i + 1), [nb, n]);
    const candidates = where(greaterEqual(rowsIdx, i), astype(abs(col), 'float32'), -1);
    const eP = astype(equal(rowsIdx, argmax(candidates, 1, true)), dt); // [nb, n]
    const eRow = astype(equal(rowsIdx, i), dt);
    const rowP = matmul(expandDims(eP, 1), m); // [nb, 1, n+k]
    const rowI = sliceAxis(m, 1, i, i + 1);
    const swapped = add(m, mul(expandDims(sub(eRow, eP), 2), sub(rowP, rowI)));
    const rowN = div(rowP, sliceAxis(rowP, 2, i, i + 1));
    const colI = sliceAxis(swapped, 2, i, i + 1);
    m = add(sub(swapped, mul(colI, rowN)), mul(reshape(eRow, [1, n, 1]), rowN));
  }
  return m;
}


function gaussJordan(a: Value, b: Value, pivoting: boolean): Value {
  const sa = shapeOf(a);
  const n = sa[sa.length - 1]!;
  const k = shapeOf(b)[shapeOf(b).length - 1]!;
  const batch = sa.slice(0, -2);
  const nb = sizeOf(batch);
  const aug0 = concat([reshape(a, [nb, n, n]), reshape(b, [nb, n, k])], 2);
  // small systems (Anderson's bordered matrix) are unrolled: static slices, no inner Loop
  const out = n <= UNROLL_MAX ? eliminateUnrolled(aug0, n, nb, pivoting) : eliminateLoop(aug0, n, pivoting);
  return reshape(sliceAxis(out, 2, n, n + k), [...batch, n, k]);
}

/** Largest float32 system solved wholly in float64 (cheap at this size, and accurate for any conditioning). */
const WIDEN_MAX = 32;

/**
 * A⁻¹ B through the Inverse operator. The inverse alone is not backward stable, as the elimination
 * is: its residual grows with the condition number. So float32 systems up to WIDEN_MAX are solved
 * in float64 (GMRES's normal equations square the condition number), and larger ones, and float64
 * ones, get one step of iterative refinement X₁ = X₀ + A⁻¹ (B − A X₀), which brings the residual
 * back to the elimination's for systems not close to singular in the working precision (measured
 * in test/solve-inverse.test.ts).
 */
function solveByInverse(a: Value, b: Value): Value {
  const dt = dtypeOf(a);
  const n = shapeOf(a)[shapeOf(a).length - 1]!;
  if (dt === 'float32' && n <= WIDEN_MAX) return astype(solveByInverse(astype(a, 'float64'), astype(b, 'float64')), dt);
  const inv = bind1(inverseP, [a], { spd: false });
  const x = matmul(inv, b);
  return add(x, matmul(inv, sub(b, matmul(a, x))));
}

/** A⁻¹ by elimination on [A | I], for targets without the Inverse operator. */
function inverseByElimination(a: Value, pivoting: boolean): Value {
  const s = shapeOf(a);
  const n = s[s.length - 1]!;
  return gaussJordan(a, broadcastTo(eye(n, dtypeOf(a)), s), pivoting);
}

export const inverseP: Primitive<{ spd: boolean }> = definePrimitive<{ spd: boolean }>({
  name: 'inverse',
  contrib: true,
  shape: ([a]) => {
    requireFloat('inv', a!);
    const s = a!.shape;
    if (s.length < 2 || s[s.length - 1] !== s[s.length - 2]) throw new ShapeError(`inv: A ${fmtShape(s)} must be [..., n, n]`);
    return [{ shape: s, dtype: a!.dtype }];
  },
  lower: (ctx, [a]) => ctx.node('Inverse', [a!], {}, 1, 'com.microsoft'),
  expand: ([a], p) => [inverseByElimination(a!, !p.spd)],
  jvp: ([a], [da], p) => {
    const inv = bind1(inverseP, [a!], p);
    return [[inv], [da && neg(matmul(inv, matmul(da, inv)))]];
  },
  batch: ([a], [d], p) => [[bind1(inverseP, [batchFirst(a!, d!)], p)], [0]],
});

/**
 * A⁻¹ for A [..., n, n] (batched over the leading axes): onnxruntime's Inverse where available,
 * elimination on [A | I] elsewhere. `spd: true` promises a symmetric positive definite A, which
 * the elimination then runs without pivoting. Prefer `solve` for A⁻¹ B: it is more accurate.
 */
export const inv = (a: Value, opts: { spd?: boolean } = {}): Value => bind1(inverseP, [a], { spd: opts.spd ?? false });

export const solveP: Primitive<{ spd: boolean }> = definePrimitive<{ spd: boolean }>({
  name: 'solve',
  shape: ([a, b]) => {
    const d = sameDType('solve', [a!, b!]);
    requireFloat('solve', a!);
    const sa = a!.shape;
    const sb = b!.shape;
    if (sa.length < 2 || sa[sa.length - 1] !== sa[sa.length - 2] || sb.length !== sa.length || sb[sb.length - 2] !== sa[sa.length - 1] || !shapesEqual(sa.slice(0, -2), sb.slice(0, -2))) {
      throw new ShapeError(`solve: A ${fmtShape(sa)} must be [..., n, n] and B ${fmtShape(sb)} [..., n, k] with the same batch axes`);
    }
    return [{ shape: sb, dtype: d }];
  },
  expand: ([a, b], p, target: Target) => [target.contribOps ? solveByInverse(a!, b!) : gaussJordan(a!, b!, !p.spd)],
  jvp: ([a, b], [da, db], p) => {
    const x = bind1(solveP, [a!, b!], p);
    let rhs: Value | null = db;
    if (da) rhs = rhs ? sub(rhs, matmul(da, x)) : neg(matmul(da, x));
    return [[x], [rhs && bind1(solveP, [a!, rhs], p)]];
  },
  transpose: ([ct], [a, b], p) => {
    if (a instanceof Undefined) throw new TransformError('solve: not linear in A');
    if (!ct || !(b instanceof Undefined)) return [null, null];
    return [null, bind1(solveP, [mT(a), ct], p)];
  },
});

/**
 * Solve A X = B for X; a 1-less-rank B is treated as a vector per batch. `spd: true` promises a
 * symmetric positive definite A and skips pivoting (fewer operations).
 */
export function solve(a: Value, b: Value, opts: { spd?: boolean } = {}): Value {
  const vec = shapeOf(b).length === shapeOf(a).length - 1;
  const b2 = vec ? expandDims(b, -1) : b;
  const x = bind1(solveP, [a, b2], { spd: opts.spd ?? false });
  return vec ? reshape(x, shapeOf(b)) : x;
}
