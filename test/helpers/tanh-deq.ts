/**
 * The tanh DEQ z* = tanh(z* W + x) and its implicit gradient in plain float64 JS (row-major arrays),
 * written from the defining formulas and sharing no code with the library: a dense Newton solve for
 * z*, and (I − ∂f/∂z)ᵀ u = ∂L/∂z* by Gaussian elimination.
 */

/** x = A⁻¹ b for a dense n×n A (row-major), by Gaussian elimination with partial pivoting. */
export function solveDense(A: readonly number[], b: readonly number[]): number[] {
  const n = b.length;
  const m = A.slice();
  const r = b.slice();
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(m[i * n + c]!) > Math.abs(m[piv * n + c]!)) piv = i;
    if (piv !== c) {
      for (let j = 0; j < n; j++) [m[c * n + j], m[piv * n + j]] = [m[piv * n + j]!, m[c * n + j]!];
      [r[c], r[piv]] = [r[piv]!, r[c]!];
    }
    for (let i = c + 1; i < n; i++) {
      const f = m[i * n + c]! / m[c * n + c]!;
      if (f === 0) continue;
      for (let j = c; j < n; j++) m[i * n + j]! -= f * m[c * n + j]!;
      r[i]! -= f * r[c]!;
    }
  }
  const out = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = r[i]!;
    for (let j = i + 1; j < n; j++) s -= m[i * n + j]! * out[j]!;
    out[i] = s / m[i * n + i]!;
  }
  return out;
}

/** f(z) = tanh(z W + x) for one sample: z, x of length n, W n×n. */
export function tanhCellRef(z: readonly number[], x: readonly number[], W: readonly number[]): number[] {
  const n = z.length;
  return Array.from({ length: n }, (_, i) => {
    let s = x[i]!;
    for (let j = 0; j < n; j++) s += z[j]! * W[j * n + i]!;
    return Math.tanh(s);
  });
}

/** z* of one sample by Newton's method on g(z) = z − f(z), ∂g/∂z = I − diag(1 − f²) Wᵀ. */
export function tanhFixedPointRef(x: readonly number[], W: readonly number[], tol = 1e-14): number[] {
  const n = x.length;
  let z = new Array<number>(n).fill(0);
  for (let it = 0; it < 100; it++) {
    const f = tanhCellRef(z, x, W);
    const g = z.map((v, i) => v - f[i]!);
    if (Math.max(...g.map(Math.abs)) < tol) return z;
    const jac = new Array<number>(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) jac[i * n + j] = (i === j ? 1 : 0) - (1 - f[i]! ** 2) * W[j * n + i]!;
    const step = solveDense(jac, g);
    z = z.map((v, i) => v - step[i]!);
  }
  throw new Error('tanhFixedPointRef: Newton did not converge in 100 steps');
}

/**
 * Gradient of a loss through z* = f(z*, x, W) with respect to W, given ∂L/∂z* per sample:
 * u solves (I − J)ᵀ u = ∂L/∂z* with J = ∂f/∂z = diag(d) Wᵀ, d = 1 − z*², and then
 * ∂L/∂W[j][i] = Σ_samples z*_j d_i u_i (the VJP of f with respect to W at z*).
 */
export function tanhImplicitGradWRef(zs: readonly number[][], dLdz: readonly number[][], W: readonly number[]): number[] {
  const n = zs[0]!.length;
  const gW = new Array<number>(n * n).fill(0);
  zs.forEach((z, b) => {
    const d = z.map((v) => 1 - v * v);
    // (I − J)ᵀ = I − W diag(d)
    const A = new Array<number>(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = (i === j ? 1 : 0) - W[i * n + j]! * d[j]!;
    const u = solveDense(A, dLdz[b]!);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) gW[j * n + i]! += z[j]! * d[i]! * u[i]!;
  });
  return gW;
}

/** The rows of a [B, n] row-major array. */
export const rows = (data: ArrayLike<number>, n: number): number[][] =>
  Array.from({ length: data.length / n }, (_, b) => Array.from({ length: n }, (_, i) => Number(data[b * n + i])));

/** ‖a − b‖ / ‖b‖ */
export const relDist = (a: readonly number[], b: readonly number[]): number =>
  Math.hypot(...a.map((v, i) => v - b[i]!)) / Math.hypot(...b);
