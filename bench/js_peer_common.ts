/** What the JavaScript peers of bench/js_peer.ts share: sizes, settings, initialisation, Anderson's small solve. */
export const WIDTH = 100, IN = 784, CLASSES = 10, BATCH = 100, EVAL_BATCH = 500;
export const SOLVER = { m: 5, lam: 1e-4, tol: 1e-4, maxIter: 50 };
export const ADAM = { lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, clip: 2 };

export type F32 = Float32Array<ArrayBuffer>;
export interface HostParams { encW: F32; encB: F32; W: F32; decW: F32; decB: F32 }

export interface PeerImpl {
  name: string;
  version: string;
  /** Training step on a batch: x [B·784], labels [B]; returns the loss and the solves' iterations. */
  step(x: F32, labels: Int32Array): Promise<{ loss: number; fwd: number; bwd: number }>;
  evaluate(x: F32, n: number): Promise<{ fwd: number }>;
}

/** PyTorch's Linear initialisation, uniform(±1/√fan_in), stored [in, out] (x W + b). */
export function initParams(seed: number): HostParams {
  let s = (seed ^ 0x9e3779b9) >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const u = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => (2 * next() - 1) / Math.sqrt(fanIn));
  return { encW: u(IN * WIDTH, IN), encB: u(WIDTH, IN), W: u(WIDTH * WIDTH, WIDTH), decW: u(WIDTH * CLASSES, WIDTH), decB: u(CLASSES, WIDTH) };
}

/**
 * Anderson's mixing weights for a batch: α = y / Σy with (GGᵀ + λ·max diag(GGᵀ)·I) y = 1 per sample
 * (the bordered system of the tutorial, solved as the library does); gg is [B, n, n], row-major.
 */
export function mixWeights(gg: Float32Array, b: number, n: number, lam: number): F32 {
  const alpha = new Float32Array(b * n);
  const a = new Float64Array(n * n), y = new Float64Array(n);
  for (let s = 0; s < b; s++) {
    let diag = 0;
    for (let i = 0; i < n; i++) diag = Math.max(diag, gg[s * n * n + i * n + i]!);
    for (let i = 0; i < n * n; i++) a[i] = gg[s * n * n + i]!;
    for (let i = 0; i < n; i++) { a[i * n + i] += lam * diag + 1e-30; y[i] = 1; }
    // Gaussian elimination without pivoting: the matrix is symmetric positive definite
    for (let k = 0; k < n; k++) {
      for (let i = k + 1; i < n; i++) {
        const f = a[i * n + k]! / a[k * n + k]!;
        for (let j = k; j < n; j++) a[i * n + j] -= f * a[k * n + j]!;
        y[i] -= f * y[k]!;
      }
    }
    for (let i = n - 1; i >= 0; i--) {
      let v = y[i]!;
      for (let j = i + 1; j < n; j++) v -= a[i * n + j]! * y[j]!;
      y[i] = v / a[i * n + i]!;
    }
    let sum = 0;
    for (let i = 0; i < n; i++) sum += y[i]!;
    for (let i = 0; i < n; i++) alpha[s * n + i] = y[i]! / sum;
  }
  return alpha;
}
