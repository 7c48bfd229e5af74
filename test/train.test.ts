import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { InputError, np, Rng, tensor, Tensor, type Value } from '../src/index.js';
import { writeAtomic } from '../src/util/fs.js';
import { initLinear, linear, flatten, type Model } from '../src/nn/index.js';
import {
  adam, BUNDLED_TRAIN_SIZE, cosineLr, decodeCheckpoint, defaultValidationSize, encodeCheckpoint, holdOut, loadBundledDigits,
  loadCheckpoint, makeTrainer, saveCheckpoint, sgd, stepLr, trainRun, treeAllFinite, type Dataset, type TrainConfig,
} from '../src/train/index.js';

const vals = (t: unknown) => (t as Tensor).toArray();

describe('optimizers', () => {
  const params = { w: tensor([1, -2], 'float64') };
  const g1 = { w: tensor([0.5, 0.25], 'float64') };
  const g2 = { w: tensor([1, 1], 'float64') };

  it('SGD: p - lr g, and PyTorch-style momentum', () => {
    const plain = sgd();
    const r = plain.update(params, g1, plain.init(params), 0.1);
    expect(vals((r.params as typeof params).w)).toEqual([0.95, -2.025]);
    expect(vals(params.w)).toEqual([1, -2]); // inputs are not mutated
    const mom = sgd({ momentum: 0.9 });
    const a = mom.update(params, g1, mom.init(params), 0.1);
    const b = mom.update(a.params, g2, a.state, 0.1);
    const w = vals((b.params as typeof params).w);
    expect(w[0]).toBeCloseTo(0.805, 12);
    expect(w[1]).toBeCloseTo(-2.1475, 12);
  });

  it('Adam: two steps match values computed by hand', () => {
    const opt = adam();
    const a = opt.update(params, g1, opt.init(params), 0.1);
    expect(vals((a.params as typeof params).w)[0]).toBeCloseTo(0.900000002, 9);
    const b = opt.update(a.params, g2, a.state, 0.1);
    const w = vals((b.params as typeof params).w);
    expect(w[0]).toBeCloseTo(0.8034818006385094, 9);
    expect(w[1]).toBeCloseTo(-2.1884376438445123, 9);
    expect(b.state.step).toBe(2);
  });

  it('rejects grads whose structure does not match the params', () => {
    expect(() => sgd().update(params, { w: tensor([1, 2, 3], 'float64') }, { velocity: null }, 0.1)).toThrow(/differ in shape/);
  });

  it('schedules: the tutorial step (0.1 → 0.01 at epoch 5) and cosine annealing', () => {
    const s = stepLr(0.1, [5]);
    expect([0, 4, 5, 9].map((e) => s(0, e))).toEqual([0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]);
    const c = cosineLr(0.1, 10, 1e-4);
    expect(c(0, 0)).toBeCloseTo(0.1, 12);
    expect(c(5, 0)).toBeCloseTo(0.05005, 12);
    expect(c(10, 0)).toBeCloseTo(1e-4, 12);
  });
});

describe('a training step', () => {
  // A model whose loss is finite but whose gradient is NaN: sqrt(s - s) is 0, its derivative 1/0 - 1/0.
  const nanGradModel: Model = {
    name: 'nan-grad',
    deq: false,
    init: (rng) => ({ params: { lin: initLinear(rng, 4, 3), s: tensor(1) }, state: {} }),
    apply: (p: any, state, x: Value) => ({ logits: np.add(linear(p.lin, flatten(x)), np.sqrt(np.sub(p.s, p.s))), state, stats: null }),
  };
  const healthy: Model = { ...nanGradModel, name: 'healthy', apply: (p: any, state, x: Value) => ({ logits: linear(p.lin, flatten(x)), state, stats: null }) };
  const x = new Rng(1).randn([5, 1, 2, 2]);
  const y = tensor([0, 1, 2, 0, 1], 'int64');

  it('skips the update and keeps params when a gradient is NaN', async () => {
    const opt = adam();
    const { params, state } = nanGradModel.init(new Rng(0));
    const r = await makeTrainer(nanGradModel, opt).step(params, state, opt.init(params), x, y, 0.1);
    expect(Number.isFinite(r.report.loss)).toBe(true);
    expect(r.report.skipped).toBe('non-finite gradient');
    expect(r.params).toBe(params);
    expect(treeAllFinite(r.params)).toBe(true);
  });

  it('skips an update that overflows (a learning rate of 1e39 in float32) and keeps params', async () => {
    const opt = sgd();
    const { params, state } = healthy.init(new Rng(0));
    const r = await makeTrainer(healthy, opt).step(params, state, opt.init(params), x, y, 1e39);
    expect(r.report.skipped).toBe('non-finite update');
    expect(r.params).toBe(params);
  });

  it('skips a step whose Adam moments overflow float32 (a gradient of 1e21), so no weight is frozen', async () => {
    const opt = adam();
    const { params, state } = healthy.init(new Rng(0));
    const optState = opt.init(params);
    const trainer = makeTrainer(healthy, opt);
    // inputs of 1e21 give gradients near 1e21 whose square, 1e42, is Inf in float32
    const huge = new Tensor('float32', [5, 1, 2, 2], new Float32Array(20).fill(1e21));
    const r = await trainer.step(params, state, optState, huge, y, 1e-3);
    expect(Number.isFinite(r.report.loss)).toBe(true);
    expect(r.report.skipped).toBe('non-finite optimizer state');
    expect(r.params).toBe(params);
    expect(r.optState).toBe(optState);
    // the next ordinary step still moves every weight
    const next = await trainer.step(r.params, r.state, r.optState, x, y, 1e-3);
    expect(next.report.skipped).toBeNull();
    const before = (params as { lin: { W: Tensor } }).lin.W.toArray();
    const after = (next.params as { lin: { W: Tensor } }).lin.W.toArray();
    expect(after.every((w, i) => w !== before[i])).toBe(true);
  });

  it('applies the update when everything is finite, and the loss falls', async () => {
    const opt = sgd();
    let { params, state } = healthy.init(new Rng(0));
    let optState: unknown = opt.init(params);
    const trainer = makeTrainer(healthy, opt);
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await trainer.step(params, state, optState, x, y, 0.5);
      expect(r.report.skipped).toBeNull();
      ({ params, state, optState } = r);
      losses.push(r.report.loss);
    }
    expect(losses[4]!).toBeLessThan(losses[0]!);
    // release() lets the compiled step's session go; the trainer still works, compiling again
    expect(trainer.trainGraph.cacheSize).toBe(1);
    await trainer.release();
    expect(trainer.trainGraph.cacheSize).toBe(0);
    const again = await trainer.step(params, state, optState, x, y, 0.5);
    expect(again.report.loss).toBeLessThan(losses[0]!);
    expect(trainer.trainGraph.traceCount).toBe(2);
  });
});

describe('checkpoints', () => {
  const trees = {
    params: { enc: { W: new Rng(2).randn([3, 4]), b: tensor([1, 2, 3, 4], 'float64') }, list: [tensor([7, 8], 'int64')] },
    optState: { step: 12, velocity: null },
  };

  it('round-trip pytrees of tensors, numbers and nulls with their structure', () => {
    const back = decodeCheckpoint(encodeCheckpoint({ meta: { epoch: 3, note: 'x' }, trees }));
    if (E.isLeft(back)) throw back.left;
    const p = back.right.trees.params as typeof trees.params;
    expect(back.right.meta).toEqual({ epoch: 3, note: 'x' });
    expect(p.enc.W.dtype).toBe('float32');
    expect(p.enc.W.shape).toEqual([3, 4]);
    expect(p.enc.W.toArray()).toEqual(trees.params.enc.W.toArray());
    expect(p.enc.b.toArray()).toEqual([1, 2, 3, 4]);
    expect(p.list[0]!.dtype).toBe('int64');
    expect(p.list[0]!.toArray()).toEqual([7, 8]);
    expect(back.right.trees.optState).toEqual({ step: 12, velocity: undefined });
  });

  it('are written atomically: the old file is replaced whole and no temp file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const path = join(dir, 'checkpoint.deq');
    writeFileSync(path, 'old content');
    await saveCheckpoint(path, { meta: { epoch: 1 }, trees });
    expect(readdirSync(dir)).toEqual(['checkpoint.deq']);
    const loaded = loadCheckpoint(path);
    expect(E.isRight(loaded) && loaded.right.meta.epoch).toBe(1);
    await writeAtomic(join(dir, 'sub', 'metrics.json'), '{"a":1}');
    expect(readFileSync(join(dir, 'sub', 'metrics.json'), 'utf8')).toBe('{"a":1}');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['metrics.json']);
    // missing parents are created one level at a time: under /proc, where a recursive mkdir spins
    // forever, the write fails at once
    await expect(writeAtomic('/proc/no-such-dir/sub/metrics.json', 'x')).rejects.toThrow(/ENOENT/);
  }, 20_000);

  it('report damaged or missing files as errors naming the fix', () => {
    const bytes = encodeCheckpoint({ meta: {}, trees });
    const cut = decodeCheckpoint(bytes.subarray(0, bytes.length - 10), 'c.deq');
    expect(E.isLeft(cut) && cut.left.message).toMatch(/^damaged checkpoint c\.deq \(.*the file is truncated\): train again/);
    const junk = decodeCheckpoint(new TextEncoder().encode('not a checkpoint at all'), 'j');
    expect(E.isLeft(junk) && junk.left).toBeInstanceOf(InputError);
    const missing = loadCheckpoint('/no/such/checkpoint.deq');
    expect(E.isLeft(missing) && missing.left.message).toMatch(/cannot read checkpoint \(ENOENT\)/);
  });
});

describe('the validation split', () => {
  /** n samples whose first pixel is their index, so a split can be traced back. */
  const indexed = (n: number): Dataset => ({
    images: new Tensor('float32', [n, 1, 2, 2], Float32Array.from({ length: 4 * n }, (_, i) => (i % 4 === 0 ? i / 4 : 0.5))),
    labels: new Tensor('int64', [n], BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10))),
  });
  const ids = (ds: Dataset) => ds.images.toArray().filter((_, i) => i % 4 === 0);

  it('holds out a fixed seeded set: disjoint from the rest, together the whole training set, the rest in order', () => {
    const ds = indexed(80);
    const { train, validation } = holdOut(ds, 10);
    const held = ids(validation);
    const kept = ids(train);
    expect(held).toHaveLength(10);
    expect(kept).toHaveLength(70);
    expect([...held, ...kept].sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    expect(held).not.toEqual(Array.from({ length: 10 }, (_, i) => i)); // drawn, not the first ten
    expect(ids(holdOut(ds, 10).validation)).toEqual(held); // the same every time
    expect(train.labels.toArray()).toEqual(kept.map((i) => i % 10));
    expect(ids(holdOut(ds, 0).train)).toEqual(ids(ds));
    expect(() => holdOut(ds, 80)).toThrow(InputError);
    expect(() => holdOut(ds, -1)).toThrow(/0 to 79 of the 80 training samples, got -1/);
  });

  it('takes 1,000 of the 8,000 bundled training digits (an eighth of a smaller set)', () => {
    expect(defaultValidationSize(BUNDLED_TRAIN_SIZE)).toBe(1000);
    expect(defaultValidationSize(60000)).toBe(1000);
    expect(defaultValidationSize(80)).toBe(10);
    const { train, validation } = holdOut(loadBundledDigits().train, 1000);
    expect(train.labels.shape).toEqual([7000]);
    expect(validation.labels.shape).toEqual([1000]);
    // every digit is in the validation set, roughly as often as in the training set
    const counts = Array.from({ length: 10 }, (_, d) => validation.labels.toArray().filter((v) => v === d).length);
    expect(Math.min(...counts)).toBeGreaterThan(60);
  });

  it('a run reports per-epoch errors on the validation set and the test error once, at the end', async () => {
    const data = { train: indexed(240), test: indexed(40), source: 'indexed' };
    const config: TrainConfig = { model: 'mlp', deq: false, optimizer: 'adam', schedule: 'constant', lr: 1e-2, epochs: 2, batchSize: 20, seed: 0, validation: 30 };
    const sizes: unknown[] = [];
    const r = await trainRun(config, data, { onSplit: (n) => sizes.push(n) })();
    if (E.isLeft(r)) throw r.left;
    expect(sizes).toEqual([{ train: 210, validation: 30, test: 40 }]);
    expect(r.right.history).toHaveLength(2);
    for (const m of r.right.history) {
      expect(m.valError).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(Math.round(m.valError * 30 * 1e6) / 1e6)).toBe(true); // counted over the 30 held out
      expect(Object.keys(m).filter((k) => /test/i.test(k))).toEqual([]);
    }
    expect(r.right.test.samples).toBe(40);
    expect(Number.isInteger(Math.round(r.right.test.error * 40 * 1e6) / 1e6)).toBe(true);
    // for time-to-accuracy measurements only: the test set after every epoch, on request
    const each = await trainRun(config, data, { testEachEpoch: true })();
    if (E.isLeft(each)) throw each.left;
    expect(each.right.history.every((m) => m.testError! >= 0 && m.testError! <= 1)).toBe(true);
    expect(each.right.history.at(-1)!.testError).toBe(each.right.test.error);
    const none = await trainRun({ ...config, validation: 0 }, data)();
    if (E.isLeft(none)) throw none.left;
    expect(none.right.history.every((m) => Number.isNaN(m.valError))).toBe(true);
    const tooMany = await trainRun({ ...config, validation: 240 }, data)();
    expect(E.isLeft(tooMany) && tooMany.left.message).toMatch(/validation set of 240 leaves none of the 240 training samples/);
  });
});
