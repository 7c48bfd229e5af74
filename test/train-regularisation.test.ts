/**
 * Jacobian regularisation and normalised cells in training: the term reaches the compiled step with
 * weight λ and lowers the penalty; --jac-reg-freq picks its steps by the seeded draw; spectral
 * normalisation keeps the cell's weight at its scale (exact SVD), weight normalisation keeps its
 * columns at their gains; and with each flag a resumed run reproduces the uninterrupted one exactly.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { fixedPoint, grad, jacobianNoise, jacobianPenalty, jit, np, Rng, Tensor, treeFlatten, type Value } from '../src/index.js';
import { convModel, mlpModel, type Model, normalizedModel, SPECTRAL_NORM_KEY, spectralNorm, tanhCell, WEIGHT_NORM_KEY, weightNorm } from '../src/nn/index.js';
import { jacobianStepRng, makeTrainer, trainRun, type EpochMetrics, type Optimizer, type TrainConfig } from '../src/train/index.js';
import { SettingError } from '../src/train/errors.js';
import { largestSingularValue } from './helpers/linalg.js';
import { tinySplit } from './helpers/tiny-data.js';

const data = tinySplit(96, 32);
const base: TrainConfig = { model: 'mlp', deq: {}, optimizer: 'adam', schedule: 'cosine', lr: 4e-3, epochs: 3, batchSize: 16, seed: 5 };

const run = async (c: TrainConfig, opts: Parameters<typeof trainRun>[2] = {}) => {
  const r = await trainRun(c, data, opts)();
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const leaves = (t: unknown) => treeFlatten<Tensor>(t)[0].map((l) => Array.from(l.data as Float32Array));
const strip = (h: EpochMetrics[]) => h.map(({ seconds: _s, ...m }) => m);

/** An optimizer that keeps the params and records the gradients it was given. */
function recorder(): Optimizer<null> & { grads: unknown[] } {
  const grads: unknown[] = [];
  return { name: 'recorder', grads, init: () => null, update: (params, g) => { grads.push(g); return { params, state: null }; } };
}

describe('the Jacobian term in the compiled step', () => {
  const model = mlpModel({ deq: { tol: 1e-5, maxIter: 60 }, inFeatures: 64, hidden: 24 });
  const { params, state } = model.init(new Rng(1));
  const x = data.train.images.reshape([96, 1, 8, 8]);
  const batch = { x: new Tensor('float32', [16, 1, 8, 8], (x.data as Float32Array).slice(0, 16 * 64)), y: new Tensor('int64', [16], (data.train.labels.data as BigInt64Array).slice(0, 16)) };
  const probes = jacobianNoise(new Rng(2), [16, 24], { samples: 2 });

  /** λ · ∂/∂params of the penalty at z*, written out without the trainer. */
  const penaltyGrad = jit(grad((p: typeof params, xb: Value, noise: Value) => {
    const h = np.add(np.matmul(np.flatten(xb, 1), p.enc.W), p.enc.b!);
    const z = fixedPoint(tanhCell, np.zerosLike(h), [h, p.cell], { tol: 1e-5, maxIter: 60 }).value;
    return jacobianPenalty(tanhCell, np.stopGradient(z), [h, p.cell], { noise });
  }));

  it('adds λ times the penalty\'s gradient (z* held constant), with the probes given', async () => {
    const lambda = 3;
    const opt = recorder();
    const trainer = makeTrainer(model, opt, {}, { jacobianWeight: lambda });
    expect(trainer.equilibriumShape(params, state, batch.x)).toEqual([16, 24]);
    const plain = await trainer.step(params, state, null, batch.x, batch.y, 1);
    const withTerm = await trainer.step(params, state, null, batch.x, batch.y, 1, probes);
    expect(plain.report.jacobianPenalty).toBeNull();
    expect(withTerm.report.jacobianPenalty).toBeGreaterThan(0);
    // the reported loss is the cross-entropy alone, the same with and without the term
    expect(withTerm.report.loss).toBeCloseTo(plain.report.loss, 6);
    const [gPlain, gTerm] = opt.grads.map(leaves);
    const expectedTree = (await penaltyGrad(params, batch.x, probes)) as { dec: { W: Tensor } };
    const expected = leaves(expectedTree);
    const scale = Math.max(...expected.flat().map(Math.abs)) * lambda;
    expect(scale).toBeGreaterThan(0);
    gTerm!.forEach((g, i) => g.forEach((v, k) => expect(Math.abs(v - gPlain![i]![k]! - lambda * expected[i]![k]!)).toBeLessThan(2e-3 * scale)));
    // the decoder does not enter the penalty
    expect(expectedTree.dec.W.toArray().every((v) => v === 0)).toBe(true);
  }, 60_000);

  it('refuses probes when the trainer has no Jacobian weight', async () => {
    const trainer = makeTrainer(model, recorder());
    await expect(trainer.step(params, state, null, batch.x, batch.y, 1, probes)).rejects.toThrow(/no jacobianWeight/);
  });
});

describe('training with --jac-reg', () => {
  const penaltyOf = async (params: unknown, state: unknown) => {
    const model: Model = mlpModel({ deq: { tol: 1e-4 }, inFeatures: 64 });
    const x = data.test.images;
    const noise = jacobianNoise(new Rng(11), [32, 100], { samples: 4 });
    const f = jit((p: unknown, s: unknown, xb: Value, e: Value) => {
      const eq = model.apply(p, s, xb, { train: false }).equilibrium!;
      return jacobianPenalty(eq.cell, eq.zStar, eq.args, { noise: e });
    });
    return ((await f(params, state, x, noise)) as Tensor).item();
  };

  it('lowers the penalty against the same run without it', async () => {
    const plain = await run({ ...base, epochs: 4 });
    const reg = await run({ ...base, epochs: 4, jacReg: 5 });
    const h = reg.history.map((m) => m.jacPenalty!);
    expect(h[h.length - 1]!).toBeLessThan(h[0]!);
    expect(plain.history[0]!.jacPenalty).toBeUndefined();
    const [p0, p1] = [await penaltyOf(plain.params, plain.state), await penaltyOf(reg.params, reg.state)];
    expect(p1).toBeLessThan(0.8 * p0);
  }, 120_000);

  it('--jac-reg-freq p applies the term on the steps whose seeded draw is below p', async () => {
    const r = await run({ ...base, jacReg: 1, jacRegFreq: 0.4 });
    const steps = r.history[0]!.steps;
    const drawn = r.history.map((_, e) => Array.from({ length: steps }, (_, b) => jacobianStepRng(base.seed, e, b).next() < 0.4).filter(Boolean).length);
    expect(r.history.map((m) => m.jacSteps)).toEqual(drawn);
    const total = drawn.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(steps * r.history.length);
  }, 60_000);

  it('is refused without a DEQ layer, and a share without a weight', async () => {
    const noDeq = await trainRun({ ...base, deq: false, jacReg: 1 }, data)();
    expect(E.isLeft(noDeq) && noDeq.left instanceof SettingError && noDeq.left.settings).toEqual(['jacReg']);
    const noWeight = await trainRun({ ...base, jacRegFreq: 0.5 }, data)();
    expect(E.isLeft(noWeight) && noWeight.left instanceof SettingError && noWeight.left.settings).toEqual(['jacRegFreq']);
  });
});

describe('normalised cells in training', () => {
  it('--spectral-norm keeps the cell weight\'s spectral norm at its scale; u is state, updated in training only', async () => {
    const scale = 0.9;
    const r = await run({ ...base, normalize: 'spectral', spectralScale: scale });
    const state = r.state as Record<string, Record<string, Tensor>>;
    const u = state[SPECTRAL_NORM_KEY]!['cell.W']!;
    expect(u.shape).toEqual([100]);
    const effective = jit((p: unknown, s: Record<string, Value>) => (spectralNorm(p, s, { train: false, scale }).params as { cell: { W: Value } }).cell.W);
    const W = (await effective(r.params, state[SPECTRAL_NORM_KEY]!)) as Tensor;
    const sigma = largestSingularValue(W);
    // σ̂ = ‖uᵀW‖ ≤ σ₁, so the bound holds up to how far u is from converged: 1e-3 after one power iteration per step
    expect(sigma).toBeLessThanOrEqual(scale * (1 + 1e-3));
    expect(sigma).toBeGreaterThan(scale * (1 - 1e-3));
    // the raw weight is not at the scale itself: the normalisation does the work
    expect(Math.abs(largestSingularValue((r.params as { cell: { W: Tensor } }).cell.W) - scale)).toBeGreaterThan(0.05);

    const model = normalizedModel(mlpModel({ deq: {}, inFeatures: 64 }), { kind: 'spectral', scale });
    const fresh = model.init(new Rng(base.seed));
    const x = data.test.images;
    const uOf = (s: unknown) => Array.from(((s as typeof state)[SPECTRAL_NORM_KEY]!['cell.W']!).data as Float32Array);
    expect(uOf(await jit((p: unknown, s: unknown, xb: Value) => model.apply(p, s, xb, { train: false }).state)(r.params, r.state, x))).toEqual(uOf(r.state));
    expect(uOf(await jit((p: unknown, s: unknown, xb: Value) => model.apply(p, s, xb, { train: true }).state)(r.params, r.state, x))).not.toEqual(uOf(r.state));
    expect(uOf(r.state)).not.toEqual(uOf(fresh.state));
  }, 60_000);

  it('a conv cell: both convolutions are normalised, and the warm-up gives the bound from the first step', async () => {
    const model = normalizedModel(convModel({ deq: {}, imageSize: 8, channels: 8, innerChannels: 12, groups: 4 }), { kind: 'spectral', scale: 0.5 });
    const { params, state } = model.init(new Rng(3));
    const u = (state as Record<string, Record<string, Tensor>>)[SPECTRAL_NORM_KEY]!;
    expect(Object.keys(u).sort()).toEqual(['cell.conv1.W', 'cell.conv2.W']);
    const out = (await jit((p: unknown, s: Record<string, Value>) => spectralNorm(p, s, { train: false, scale: 0.5 }).params)(params, u)) as { cell: { conv1: { W: Tensor }; conv2: { W: Tensor } } };
    for (const W of [out.cell.conv1.W, out.cell.conv2.W]) expect(Math.abs(largestSingularValue(W) - 0.5)).toBeLessThan(1e-4);
  }, 60_000);

  it('--weight-norm trains the gains with the directions, and each column of the cell weight has its gain\'s norm', async () => {
    const r = await run({ ...base, normalize: 'weight' });
    const gains = (r.params as Record<string, Record<string, Tensor>>)[WEIGHT_NORM_KEY]!;
    expect(Object.keys(gains)).toEqual(['cell.W']);
    const g = gains['cell.W']!;
    expect(g.shape).toEqual([1, 100]);
    const fresh = normalizedModel(mlpModel({ deq: {}, inFeatures: 64 }), { kind: 'weight' }).init(new Rng(base.seed)).params as Record<string, Record<string, Tensor>>;
    expect(Array.from(g.data as Float32Array)).not.toEqual(Array.from(fresh[WEIGHT_NORM_KEY]!['cell.W']!.data as Float32Array));
    const { [WEIGHT_NORM_KEY]: _g, ...inner } = r.params as Record<string, unknown>;
    const W = ((await jit((p: unknown, gg: Record<string, Value>) => (weightNorm(p, gg) as { cell: { W: Value } }).cell.W)(inner, gains)) as Tensor).toArray();
    const gv = g.toArray();
    for (let j = 0; j < 100; j++) {
      let s = 0;
      for (let i = 0; i < 100; i++) s += W[i * 100 + j]! ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(Math.abs(gv[j]!), 4);
    }
  }, 60_000);

  it('a resume must use the normalisation the checkpoint was trained with', async () => {
    const out = mkdtempSync(join(tmpdir(), 'deq-norm-'));
    await run({ ...base, epochs: 1, normalize: 'spectral' }, { outDir: out });
    const r = await trainRun({ ...base, epochs: 2 }, data, { outDir: out, resume: true })();
    expect(E.isLeft(r) && r.left instanceof SettingError && r.left.settings).toEqual(['normalize', 'spectralScale', 'outDir']);
    expect(E.isLeft(r) && r.left.message).toMatch(/trained with spectral normalisation \(scale 1\); resume with the same/);
  }, 60_000);
});

describe('a resumed run reproduces the uninterrupted one exactly', () => {
  const cases: [string, Partial<TrainConfig>][] = [
    ['--jac-reg 1 --jac-reg-freq 0.5', { jacReg: 1, jacRegFreq: 0.5 }],
    ['--weight-norm', { normalize: 'weight' }],
    ['--spectral-norm --spectral-scale 0.9', { normalize: 'spectral', spectralScale: 0.9 }],
  ];
  for (const [flags, extra] of cases) {
    it(flags, async () => {
      const c = { ...base, ...extra };
      const whole = await run(c);
      const out = mkdtempSync(join(tmpdir(), 'deq-resume-'));
      // stopped after the first epoch's checkpoint, as a kill would
      const stopped = await trainRun(c, data, { outDir: out, onEpoch: (m) => { if (m.epoch === 1) throw new Error('stopped'); } })();
      expect(E.isLeft(stopped)).toBe(true);
      let resumedAt = -1;
      const resumed = await run(c, { outDir: out, resume: true, onResume: (e) => { resumedAt = e; } });
      expect(resumedAt).toBe(1);
      expect(strip(resumed.history)).toEqual(strip(whole.history));
      expect(leaves(resumed.params)).toEqual(leaves(whole.params));
      expect(leaves(resumed.state)).toEqual(leaves(whole.state));
    }, 120_000);
  }
});
