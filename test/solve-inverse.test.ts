/**
 * The dense solve and inverse lowered onto onnxruntime's contrib operator Inverse (com.microsoft)
 * on its CPU providers, against the Gauss–Jordan expansion that standard ONNX targets keep, on
 * both runtimes, in float32 and float64; their derivative rules through either lowering; and the
 * Euclidean norm.
 */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { grad, jit, type JitOptions, np, Rng, Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';

const { onnx } = onnxProto;
const rng = new Rng(31337);

/** A well-conditioned batch: A = 2I + N(0, 1/n) per matrix. */
function systems(nb: number, n: number, k: number, dtype: 'float32' | 'float64') {
  const a = rng.randn([nb, n, n], 'float64', 1 / Math.sqrt(n)).toArray();
  for (let b = 0; b < nb; b++) for (let i = 0; i < n; i++) a[b * n * n + i * n + i]! += 2;
  const A = new Tensor(dtype, [nb, n, n], dtype === 'float32' ? Float32Array.from(a) : Float64Array.from(a));
  const B = rng.randn([nb, n, k], dtype);
  return { A, B };
}

/** max over the batch of ‖A X − B‖ / ‖B‖, in float64 on the host (A and B as given). */
function relResidual(A: Tensor, X: Tensor, B: Tensor): number {
  const [nb, n] = A.shape as [number, number];
  const k = B.shape[2]!;
  const a = A.toArray(), x = X.toArray(), b = B.toArray();
  let worst = 0;
  for (let s = 0; s < nb; s++) {
    let num = 0, den = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        let v = -b[s * n * k + i * k + j]!;
        for (let l = 0; l < n; l++) v += a[s * n * n + i * n + l]! * x[s * n * k + l * k + j]!;
        num += v * v;
        den += b[s * n * k + i * k + j]! ** 2;
      }
    }
    worst = Math.max(worst, Math.sqrt(num / den));
  }
  return worst;
}

/** Every matrix of a batch [..., n, n] is the identity within tol. */
function expectIdentity(t: Tensor, tol: number): void {
  const n = t.shape[t.shape.length - 1]!;
  t.toArray().forEach((v, i) => {
    const r = Math.floor(i / n) % n, c = i % n;
    expect(Math.abs(v - (r === c ? 1 : 0))).toBeLessThan(tol);
  });
}

const opTypes = (model: Uint8Array) => {
  const m = onnx.ModelProto.decode(model);
  const ops: string[] = [];
  const walk = (g: onnxProto.onnx.IGraphProto) => {
    for (const nd of g.node ?? []) {
      ops.push(`${nd.domain ? `${nd.domain}:` : ''}${nd.opType}`);
      for (const at of nd.attribute ?? []) if (at.g) walk(at.g);
    }
  };
  walk(m.graph!);
  return { ops, imports: (m.opsetImport ?? []).map((o) => o.domain ?? '') };
};

const targets: [string, JitOptions][] = [
  ['node cpu, Inverse', {}],
  ['node cpu, elimination (standard ONNX)', { contribOps: false }],
  ['web wasm, Inverse', { runtime: 'web' }],
  ['web wasm, elimination (standard ONNX)', { runtime: 'web', contribOps: false }],
];

describe('np.solve and np.inv lowering', () => {
  it('CPU providers get com.microsoft Inverse with its opset import; contribOps: false and WebGPU keep standard ONNX', async () => {
    const { A, B } = systems(2, 6, 1, 'float32');
    const withInverse = opTypes((await jit((a: Value, b: Value) => np.solve(a, b)).compile(A, B)).model);
    expect(withInverse.ops).toContain('com.microsoft:Inverse');
    expect(withInverse.imports).toContain('com.microsoft');
    const standard = opTypes((await jit((a: Value, b: Value) => np.solve(a, b), { contribOps: false }).compile(A, B)).model);
    expect(standard.ops.some((o) => o.includes('Inverse'))).toBe(false);
    expect(standard.imports).toEqual(['']);
    const { compileTarget } = await import('../src/backend/runtime.js');
    expect(compileTarget({ runtime: 'web', executionProviders: ['webgpu'] }).contribOps).toBe(false);
    expect(compileTarget({ runtime: 'node', executionProviders: ['webgpu', 'cpu'] }).contribOps).toBe(false);
    expect(compileTarget({ runtime: 'web', executionProviders: ['wasm'] }).contribOps).toBe(true);
  });

  for (const [name, opts] of targets) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name}, ${dtype}: small (5) and large (40) systems to the working precision's residual`, async () => {
        const solve = jit((a: Value, b: Value) => np.solve(a, b), opts);
        for (const n of [5, 40]) {
          const { A, B } = systems(3, n, 2, dtype);
          const X = (await solve(A, B)) as Tensor;
          expect(X.dtype).toBe(dtype);
          expect(relResidual(A, X, B)).toBeLessThan(dtype === 'float32' ? 2e-6 : 1e-13);
        }
      });
    }
    it(`${name}: np.inv(A) A = I (float64), and the SPD form`, async () => {
      const { A } = systems(2, 7, 1, 'float64');
      const Ai = (await jit((a: Value) => np.inv(a), opts)(A)) as Tensor;
      expectIdentity((await jit((a: Value, b: Value) => np.matmul(a, b))(Ai, A)) as Tensor, 1e-12);
      // symmetric positive definite: AᵀA
      const S = (await jit((a: Value) => np.matmul(np.mT(a), a))(A)) as Tensor;
      expectIdentity((await jit((s: Value) => np.matmul(np.inv(s, { spd: true }), s), opts)(S)) as Tensor, 1e-10);
    });
  }

  it('a badly conditioned float32 system (condition ~1e6, as the normal equations of GMRES) keeps a small residual', async () => {
    const n = 20;
    const H = rng.randn([4, n + 1, n], 'float64').toArray();
    const a = new Float64Array(4 * n * n);
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let v = 0;
          for (let r = 0; r <= n; r++) v += H[s * (n + 1) * n + r * n + i]! * 10 ** (-3 * i / n) * H[s * (n + 1) * n + r * n + j]! * 10 ** (-3 * j / n);
          a[s * n * n + i * n + j] = v;
        }
      }
    }
    const A = new Tensor('float32', [4, n, n], Float32Array.from(a));
    const B = rng.randn([4, n, 1], 'float32');
    const X = (await jit((p: Value, q: Value) => np.solve(p, q))(A, B)) as Tensor;
    const elim = (await jit((p: Value, q: Value) => np.solve(p, q), { contribOps: false })(A, B)) as Tensor;
    // as small as the (backward stable) elimination's, or smaller
    expect(relResidual(A, X, B)).toBeLessThan(Math.max(10 * relResidual(A, elim, B), 1e-5));
  });

  for (const [name, compile] of [targets[0]!, targets[1]!]) {
    it(`${name}: derivative rules of solve (in A and B) and of inv match central differences (float64)`, async () => {
      const { A, B } = systems(2, 4, 3, 'float64');
      await expectGradsOk((a, b) => np.solve(a, b), [A, B], { tol: 1e-7, compile });
      await expectGradsOk((a) => np.inv(a), [A], { tol: 1e-7, compile });
    });
  }
});

describe('np.norm', () => {
  it('is the Euclidean norm over the axes asked for, with its derivative', async () => {
    const x = rng.randn([3, 4], 'float64');
    const [rows, all] = (await jit((v: Value) => [np.norm(v, 1, true), np.norm(v)])(x)) as Tensor[];
    expect(rows!.shape).toEqual([3, 1]);
    const xs = x.toArray();
    rows!.toArray().forEach((v, i) => expect(v).toBeCloseTo(Math.hypot(...xs.slice(4 * i, 4 * i + 4)), 12));
    expect(all!.item()).toBeCloseTo(Math.hypot(...xs), 12);
    await expectGradsOk((v) => np.norm(v, 1), [x], { tol: 1e-7 });
    // at zero the derivative is taken as 0, not NaN
    const g = (await grad((v: Value) => np.sum(np.norm(np.mul(v, 0), 1)))(x)) as Tensor;
    expect(g.toArray().every((v) => v === 0)).toBe(true);
  });
});
