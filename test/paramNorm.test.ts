/**
 * Weight and spectral normalisation: values, gradients against finite differences (float64), the
 * power-iteration estimate against the exact largest singular value (a Jacobi eigen-solver on the
 * Gram matrix, in test/helpers/linalg.ts), and the tutorial's Lipschitz condition: a tanh cell whose weight has
 * spectral norm ≤ 0.9 is a contraction, so forward iteration converges.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, grad, InputError, jit, np, Rng, ShapeError, Tensor, tensor, type Value } from '../src/index.js';
import {
  initResNetCell, initSpectralNorm, initWeightNorm, resNetCell, spectralNorm, type SpectralNormState, weightNorm,
} from '../src/nn/index.js';
import { expectGradsOk, relErr } from './helpers/gradcheck.js';
import { largestSingularValue } from './helpers/linalg.js';

const rng = new Rng(777);
const f64 = (shape: number[], std = 1) => rng.randn(shape, 'float64', std);

const norm = (xs: number[]) => Math.hypot(...xs);

describe('the test eigen-solver', () => {
  it('finds the singular values of a known matrix', () => {
    // [[3, 0], [4, 5]] has singular values √45 and √5
    expect(largestSingularValue(tensor([[3, 0], [4, 5]], 'float64'))).toBeCloseTo(Math.sqrt(45), 12);
    expect(largestSingularValue(tensor([[1, 2, 2]], 'float64'))).toBeCloseTo(3, 12);
  });
});

describe('weightNorm', () => {
  const params = { enc: { W: f64([5, 3]), b: f64([3]) }, cell: { conv: { W: f64([4, 2, 3, 3]) } } };

  it('starts equal to the plain params, with one gain per output unit, and leaves other leaves alone', async () => {
    const gains = initWeightNorm(params, { select: ['enc.W', 'cell.conv.W'] });
    expect(Object.keys(gains).sort()).toEqual(['cell.conv.W', 'enc.W']);
    expect(gains['enc.W']!.shape).toEqual([1, 3]);
    expect(gains['cell.conv.W']!.shape).toEqual([4, 1, 1, 1]);
    // the first gain is the norm of the first column of enc.W
    const w = params.enc.W.toArray();
    expect(gains['enc.W']!.toArray()[0]).toBeCloseTo(norm([0, 1, 2, 3, 4].map((i) => w[i * 3]!)), 12);
    const out = (await jit((p: typeof params, g: Record<string, Value>) => weightNorm(p, g))(params, gains)) as typeof params;
    expect(relErr(out.enc.W, params.enc.W)).toBeLessThan(1e-14);
    expect(relErr(out.cell.conv.W, params.cell.conv.W)).toBeLessThan(1e-14);
    expect(out.enc.b.toArray()).toEqual(params.enc.b.toArray());
  });

  it('each output unit of the result has norm |g|, whatever the scale of v', async () => {
    const g = { W: tensor([[2, -0.5, 3]], 'float64') };
    const out = (await jit((p: { W: Value }, g: Record<string, Value>) => weightNorm(p, g))({ W: f64([5, 3], 7) }, g)) as { W: Tensor };
    const w = out.W.toArray();
    for (let j = 0; j < 3; j++) expect(norm([0, 1, 2, 3, 4].map((i) => w[i * 3 + j]!))).toBeCloseTo(Math.abs(g.W.toArray()[j]!), 12);
  });

  it('selects by predicate, and axis picks the unit axis', () => {
    const gains = initWeightNorm(params, { select: (path) => path.endsWith('.W') });
    expect(Object.keys(gains).sort()).toEqual(['cell.conv.W', 'enc.W']);
    const rows = initWeightNorm(params, { select: ['enc.W'], axis: 0 })['enc.W']!;
    expect(rows.shape).toEqual([5, 1]);
    const w = params.enc.W.toArray();
    expect(rows.toArray()[4]).toBeCloseTo(norm(w.slice(12, 15)), 12);
  });

  it('gradients with respect to v and g match central differences (linear and conv weights)', async () => {
    await expectGradsOk((v, g) => weightNorm({ W: v }, { W: g }).W, [f64([5, 3]), f64([1, 3])], { directions: 3 });
    await expectGradsOk((v, g) => weightNorm({ W: v }, { W: g }).W, [f64([4, 2, 3, 3]), f64([4, 1, 1, 1])], { directions: 3 });
  });

  it('bad selections and gains are typed errors naming the fix', async () => {
    expect(() => initWeightNorm(params, { select: ['enc.V'] })).toThrow(InputError);
    expect(() => initWeightNorm(params, { select: ['enc.V'] })).toThrow(/'enc\.W'/);
    expect(() => initWeightNorm(params, { select: ['enc.b'] })).toThrow(/rank ≥ 2/);
    await expect(jit((v: Value, g: Value) => weightNorm({ W: v }, { W: g }).W)(f64([5, 3]), f64([5, 3]))).rejects.toThrow(/normalises over no axis/);
    await expect(jit((v: Value, g: Value) => weightNorm({ W: v }, { X: g }).W)(f64([5, 3]), f64([1, 3]))).rejects.toThrow(/no params leaf at 'X'/);
  });
});

describe('spectralNorm', () => {
  const step = jit((p: { W: Value }, s: SpectralNormState, iterations: number) => {
    const r = spectralNorm(p, s, { train: true, iterations });
    return { W: r.params.W, u: r.state.W!, sigma: r.sigma.W! };
  });

  for (const [name, shape] of [['a 6×9 matrix', [6, 9]], ['a conv weight [4, 3, 3, 3] (as [4, 27])', [4, 3, 3, 3]]] as const) {
    it(`${name}: σ̂ rises to the exact largest singular value and never passes it`, async () => {
      const W = f64([...shape]);
      const exact = largestSingularValue(W);
      let state: SpectralNormState<Tensor> = initSpectralNorm(new Rng(1), { W }, { select: ['W'] });
      const sigmas: number[] = [];
      for (let k = 0; k < 40; k++) {
        const r = (await step({ W }, state, 1)) as { u: Tensor; sigma: Tensor };
        state = { W: r.u };
        sigmas.push(r.sigma.item());
      }
      for (let k = 0; k < sigmas.length; k++) {
        expect(sigmas[k]!).toBeLessThanOrEqual(exact * (1 + 1e-12));
        if (k > 0) expect(sigmas[k]!).toBeGreaterThanOrEqual(sigmas[k - 1]! * (1 - 1e-12));
      }
      const many = (await step({ W }, state, 300)) as { W: Tensor; sigma: Tensor };
      expect(Math.abs(many.sigma.item() - exact) / exact).toBeLessThan(1e-10);
      // the normalised weight's exact spectral norm is 1
      expect(largestSingularValue(many.W)).toBeCloseTo(1, 9);
    });
  }

  it('eval mode keeps u and uses it as it is', async () => {
    const W = f64([3, 4]);
    const state = initSpectralNorm(new Rng(2), { W }, { select: ['W'] });
    const r = (await jit((p: { W: Value }, s: SpectralNormState) => {
      const o = spectralNorm(p, s, { train: false });
      return { u: o.state.W!, sigma: o.sigma.W! };
    })({ W }, state)) as { u: Tensor; sigma: Tensor };
    expect(r.u.toArray()).toEqual(state.W!.toArray());
    const u = state.W!.toArray(), w = W.toArray();
    const uTM = [0, 1, 2, 3].map((j) => u.reduce((s, ui, i) => s + ui * w[i * 4 + j]!, 0));
    expect(r.sigma.item()).toBeCloseTo(norm(uTM), 12);
  });

  it('gradient: W · scale / ‖uᵀW‖ with u held constant, against central differences; training mode differentiates at the updated u', async () => {
    const W = f64([4, 5]);
    const state = initSpectralNorm(new Rng(3), { W }, { select: ['W'] });
    const evalNorm = (W: Value, u: Value) => spectralNorm({ W }, { W: u }, { train: false, scale: 0.7 }).params.W;
    await expectGradsOk(evalNorm, [W, state.W!], { wrt: [0], directions: 3 });
    // training: u moves by power iteration without gradient, so the gradient is eval mode's at the new u
    const c = f64([4, 5]);
    const lossTrain = (W: Value, u: Value) => np.sum(np.mul(spectralNorm({ W }, { W: u }, { train: true, iterations: 2, scale: 0.7 }).params.W, c));
    const lossEval = (W: Value, u: Value) => np.sum(np.mul(evalNorm(W, u), c));
    const newU = ((await step({ W }, state, 2)) as { u: Tensor }).u;
    const gTrain = (await jit(grad(lossTrain))(W, state.W!)) as Tensor;
    const gEvalNew = (await jit(grad(lossEval))(W, newU)) as Tensor;
    const gEvalOld = (await jit(grad(lossEval))(W, state.W!)) as Tensor;
    expect(relErr(gTrain, gEvalNew)).toBeLessThan(1e-12);
    expect(relErr(gTrain, gEvalOld)).toBeGreaterThan(1e-4);
  });

  it('bad state is a typed error naming the fix', async () => {
    expect(() => initSpectralNorm(rng, { b: f64([3]) }, { select: ['b'] })).toThrow(/rank ≥ 2/);
    await expect(jit((W: Value, u: Value) => spectralNorm({ W }, { W: u }, { train: true }).params.W)(f64([3, 4]), f64([4]))).rejects.toThrow(ShapeError);
    await expect(jit((W: Value, u: Value) => spectralNorm({ W }, { V: u }, { train: true }).params.W)(f64([3, 4]), f64([3]))).rejects.toThrow(/no params leaf at 'V'/);
  });
});

describe("the tutorial's Lipschitz condition with a spectrally normalised tanh cell", () => {
  const n = 6;
  const cell = (z: Value, x: Value, p: { W: Value }) => np.tanh(np.add(np.matmul(z, p.W), x));
  const W = f64([n, n], 1.2); // σ₁ well above 1: not a contraction as it is
  const normalise = jit((p: { W: Value }, s: SpectralNormState) => spectralNorm(p, s, { train: true, iterations: 300, scale: 0.9 }).params.W);

  it('‖W‖₂ ≤ 0.9 makes tanh(z W + x) a 0.9-contraction, and forward iteration converges at that rate', async () => {
    expect(largestSingularValue(W)).toBeGreaterThan(2);
    const Wn = (await normalise({ W }, initSpectralNorm(new Rng(4), { W }, { select: ['W'] }))) as Tensor;
    expect(largestSingularValue(Wn)).toBeLessThanOrEqual(0.9 * (1 + 1e-9));
    const x = f64([1, n]);
    const f = jit((z: Value) => cell(z, x, { W: Wn }));
    for (let t = 0; t < 50; t++) {
      const a = f64([1, n], 2), b = f64([1, n], 2);
      const fa = ((await f(a)) as Tensor).toArray(), fb = ((await f(b)) as Tensor).toArray();
      const ratio = norm(fa.map((v, i) => v - fb[i]!)) / norm(a.toArray().map((v, i) => v - b.toArray()[i]!));
      expect(ratio).toBeLessThanOrEqual(0.9 * (1 + 1e-9));
    }
    // forward iteration z ← f(z): each residual ‖f(z) − z‖ at most 0.9 times the one before
    let z = f64([1, n]);
    let prev = Infinity;
    for (let k = 0; k < 200; k++) {
      const fz = (await f(z)) as Tensor;
      const r = norm(fz.toArray().map((v, i) => v - z.toArray()[i]!));
      expect(r).toBeLessThanOrEqual(0.9 * prev * (1 + 1e-9) + 1e-15);
      prev = r;
      z = fz;
    }
    expect(prev).toBeLessThan(1e-8);
    // and the library's forward solver reaches tolerance
    const solved = (await jit((x: Value) => fixedPoint(cell, np.zerosLike(x), [x, { W: Wn }], { solver: 'forward', tol: 1e-10, maxIter: 300 }).stats.converged)(x)) as Tensor;
    expect(solved.item()).toBe(1);
  });

  it('without the normalisation the same check fails: two points near 0 along the top singular direction move apart', async () => {
    // a = ε·(top right-singular direction of Wᵀ as a row vector), b = −a, x = 0: f(a) − f(b) ≈ 2aW
    let v = f64([1, n]);
    const mul = (r: number[], M: number[], t: boolean) => Array.from({ length: n }, (_, j) => r.reduce((s, ri, i) => s + ri * M[t ? j * n + i : i * n + j]!, 0));
    const w = W.toArray();
    let r = v.toArray();
    for (let k = 0; k < 500; k++) { r = mul(mul(r, w, false), w, true); const s = norm(r); r = r.map((q) => q / s); }
    v = tensor([r.map((q) => q * 1e-4)], 'float64');
    const f = jit((z: Value) => cell(z, np.zerosLike(z), { W }));
    const fa = ((await f(v)) as Tensor).toArray();
    const fb = ((await f(tensor([v.toArray().map((q) => -q)], 'float64'))) as Tensor).toArray();
    const ratio = norm(fa.map((q, i) => q - fb[i]!)) / (2 * norm(v.toArray()));
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeCloseTo(largestSingularValue(W), 3);
  });
});

describe('normalised weights inside DEQs', () => {
  it('implicit gradients with respect to the raw weight of a spectrally normalised tanh DEQ match central differences', async () => {
    const cell = (z: Value, x: Value, p: { W: Value }) => np.tanh(np.add(np.matmul(z, p.W), x));
    const W = f64([4, 4]);
    const u = initSpectralNorm(new Rng(6), { W }, { select: ['W'] }).W!;
    const x = f64([3, 4]);
    const deq = (W: Value) => {
      const p = spectralNorm({ W }, { W: u }, { train: false, scale: 0.8 }).params;
      return fixedPoint(cell, np.zerosLike(x), [x, p], { tol: 1e-13, maxIter: 200, backwardTol: 1e-13, backwardMaxIter: 200 }).value;
    };
    await expectGradsOk(deq, [W], { directions: 2, tol: 1e-6 });
  });

  it('weight normalisation on the ResNet cell: selected by predicate, the cell computes the same values at init', async () => {
    const p = initResNetCell(new Rng(7), { channels: 4, innerChannels: 8, dtype: 'float64' });
    const gains = initWeightNorm(p, { select: (path) => path.startsWith('conv') });
    expect(Object.keys(gains).sort()).toEqual(['conv1.W', 'conv2.W']);
    const z = f64([2, 4, 5, 5]), x = f64([2, 4, 5, 5]);
    const run = jit((p: any, g: Record<string, Value>, z: Value, x: Value) => ({ plain: resNetCell(z, x, p, { groups: 2 }), normed: resNetCell(z, x, weightNorm(p, g), { groups: 2 }) }));
    const out = (await run(p, gains, z, x)) as { plain: Tensor; normed: Tensor };
    expect(relErr(out.normed, out.plain)).toBeLessThan(1e-12);
  });
});
