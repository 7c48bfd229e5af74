/** Dense linear algebra in float64 JS for tests: eigenvalues of symmetric matrices and largest singular values, written here to check the library against. */
import type { Tensor } from '../../src/index.js';

/** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (float64). */
export function symmetricEigenvalues(a: number[][]): number[] {
  const n = a.length;
  const A = a.map((r) => [...r]);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(A[p]![q]!) < 1e-300) continue;
        const theta = (A[q]![q]! - A[p]![p]!) / (2 * A[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k]![p]!, akq = A[k]![q]!;
          A[k]![p] = c * akp - s * akq;
          A[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p]![k]!, aqk = A[q]![k]!;
          A[p]![k] = c * apk - s * aqk;
          A[q]![k] = s * apk + c * aqk;
        }
      }
    }
  }
  return A.map((r, i) => r[i]!);
}

/** Largest singular value of W as the matrix reshape(W, [rows, -1]): √ of the top eigenvalue of the smaller Gram matrix. */
export function largestSingularValue(W: Tensor): number {
  const rows = W.shape[0]!;
  const cols = W.size / rows;
  const w = W.toArray();
  const m = (i: number, j: number) => w[i * cols + j]!;
  const small = Math.min(rows, cols);
  const gram = Array.from({ length: small }, (_, i) => Array.from({ length: small }, (_, j) => {
    let s = 0;
    if (rows <= cols) for (let k = 0; k < cols; k++) s += m(i, k) * m(j, k);
    else for (let k = 0; k < rows; k++) s += m(k, i) * m(k, j);
    return s;
  }));
  return Math.sqrt(Math.max(...symmetricEigenvalues(gram)));
}
