/** Elementwise primitives: forward values against plain JS, derivatives against finite differences. */
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, Rng, tensor, type Tensor, type Value } from '../src/index.js';
import { expectGradsOk } from './helpers/gradcheck.js';
import { binaryRef, expectClose, mapRef, values } from './helpers/reference.js';

const rng = new Rng(7);
/** Random float64 values with magnitude in [lo, hi] and random sign (away from kinks and poles). */
const awayFromZero = (shape: number[], lo = 0.3, hi = 1.5): Tensor => {
  const t = rng.uniform(shape, 'float64', lo, hi);
  const d = t.data as Float64Array;
  for (let i = 0; i < d.length; i++) if (rng.next() < 0.5) d[i] = -d[i]!;
  return t;
};

type Binary = (a: Value, b: Value | number) => Value;
const binaryCases: [string, Binary, (x: number, y: number) => number, 'any' | 'positiveBase' | 'nonzeroRight'][] = [
  ['add', np.add, (x, y) => x + y, 'any'],
  ['sub', np.sub, (x, y) => x - y, 'any'],
  ['mul', np.mul, (x, y) => x * y, 'any'],
  ['div', np.div, (x, y) => x / y, 'nonzeroRight'],
  ['pow', np.pow, (x, y) => x ** y, 'positiveBase'],
  ['maximum', np.maximum, Math.max, 'any'],
  ['minimum', np.minimum, Math.min, 'any'],
];
// same shape, numpy broadcasting both ways, and a scalar operand
const shapePairs: [number[], number[]][] = [
  [[2, 3], [2, 3]],
  [[3, 1, 4], [2, 1]],
  [[4], [2, 3, 1]],
  [[2, 3], []],
];

describe('binary elementwise ops', () => {
  for (const [name, op, ref, domain] of binaryCases) {
    for (const [sa, sb] of shapePairs) {
      it(`${name} ${JSON.stringify(sa)} with ${JSON.stringify(sb)}: values, JVP, VJP`, async () => {
        const a = domain === 'positiveBase' ? rng.uniform(sa, 'float64', 0.5, 2) : rng.randn(sa, 'float64');
        const b = domain === 'nonzeroRight' ? awayFromZero(sb) : rng.randn(sb, 'float64');
        const y = await expectGradsOk(op, [a, b]);
        expectClose(y, binaryRef(a, b, ref), 1e-14);
      });
    }
  }

  it('accepts plain numbers as weakly typed scalars', async () => {
    const x = rng.randn([2, 2], 'float64');
    const y = (await jit((x: Value) => np.sub(np.mul(2, x), 1))(x)) as Tensor;
    expect(y.dtype).toBe('float64');
    expectClose(y, mapRef(x, (v) => 2 * v - 1));
  });

  it('maximum and minimum send the whole tangent to the first operand on ties', async () => {
    const x = tensor([1, 2, 3], 'float64');
    const [, dmax] = (await jvp((a: Value, b: Value) => np.maximum(a, b), [x, x], [tensor([1, 1, 1], 'float64'), tensor([10, 10, 10], 'float64')])) as Tensor[];
    expect(values(dmax!)).toEqual([1, 1, 1]);
  });
});

type Unary = (x: Value) => Value;
const unaryCases: [string, Unary, (x: number) => number, 'any' | 'positive' | 'awayFromZero'][] = [
  ['neg', np.neg, (x) => -x, 'any'],
  ['exp', np.exp, Math.exp, 'any'],
  ['log', np.log, Math.log, 'positive'],
  ['tanh', np.tanh, Math.tanh, 'any'],
  ['sigmoid', np.sigmoid, (x) => 1 / (1 + Math.exp(-x)), 'any'],
  ['relu', np.relu, (x) => Math.max(x, 0), 'awayFromZero'],
  ['sqrt', np.sqrt, Math.sqrt, 'positive'],
  ['abs', np.abs, Math.abs, 'awayFromZero'],
];

describe('unary elementwise ops', () => {
  for (const [name, op, ref, domain] of unaryCases) {
    it(`${name}: values, JVP, VJP`, async () => {
      const shape = [3, 4];
      const x = domain === 'positive' ? rng.uniform(shape, 'float64', 0.2, 3) : domain === 'awayFromZero' ? awayFromZero(shape, 0.05, 2) : rng.randn(shape, 'float64');
      const y = await expectGradsOk(op, [x]);
      expectClose(y, mapRef(x, ref), 1e-14);
    });
  }

  it('sign has values and a zero derivative', async () => {
    const x = tensor([-2, 0, 3], 'float64');
    expect(values((await jit(np.sign)(x)) as Tensor)).toEqual([-1, 0, 1]);
    const g = (await grad((x: Value) => np.sum(np.mul(np.sign(x), x)))(x)) as Tensor;
    expect(values(g)).toEqual([-1, 0, 1]);
  });
});

describe('integer arithmetic (forward only)', () => {
  for (const dtype of ['int64', 'int32'] as const) {
    it(`${dtype}: add, sub, mul, div (truncating), maximum, minimum, neg, abs with broadcasting`, async () => {
      const a = tensor([[7, -3, 0], [2, 9, -8]], dtype);
      const b = tensor([2, -4, 5], dtype);
      const f = jit((a: Value, b: Value) => [np.add(a, b), np.sub(a, 1), np.mul(a, b), np.div(a, b), np.maximum(a, b), np.minimum(a, b), np.neg(a), np.abs(a)]);
      const outs = (await f(a, b)) as Tensor[];
      const refs: ((x: number, y: number) => number)[] = [(x, y) => x + y, (x) => x - 1, (x, y) => x * y, (x, y) => Math.trunc(x / y), Math.max, Math.min, (x) => -x, Math.abs];
      refs.forEach((ref, k) => {
        expect(outs[k]!.dtype).toBe(dtype);
        expect(values(outs[k]!)).toEqual(values(binaryRef(a, b, ref)).map((v) => v + 0));
      });
    });
  }
});

describe('where', () => {
  it('selects with a broadcast condition; derivatives flow to both branches', async () => {
    const c = rng.randn([3, 1], 'float64');
    const f = (a: Value, b: Value) => np.where(np.greater(c, 0), a, b);
    const a = rng.randn([3, 4], 'float64');
    const b = rng.randn([4], 'float64');
    const y = await expectGradsOk(f, [a, b]);
    const cv = values(c);
    const expected = binaryRef(a, b, () => 0);
    const ev = expected.data as Float64Array;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) ev[i * 4 + j] = cv[i]! > 0 ? values(a)[i * 4 + j]! : values(b)[j]!;
    expectClose(y, expected);
  });

  it('with a condition of higher rank than both branches', async () => {
    const c = rng.randn([2, 3, 1], 'float64');
    const y = await expectGradsOk((a, b) => np.where(np.less(c, 0), a, b), [rng.randn([3, 4], 'float64'), rng.randn([1, 4], 'float64')]);
    expect([...y.shape]).toEqual([2, 3, 4]);
  });

  it('takes number branches', async () => {
    const x = tensor([-1, 2, -3], 'float64');
    const y = (await jit((x: Value) => np.where(np.less(x, 0), 0, x))(x)) as Tensor;
    expect(values(y)).toEqual([0, 2, 0]);
  });
});

describe('cast', () => {
  it('converts between float, int and bool dtypes', async () => {
    const x = tensor([-1.5, 0, 2.7], 'float64');
    const f = jit((x: Value) => ({
      f32: np.astype(x, 'float32'),
      i64: np.astype(x, 'int64'),
      b: np.astype(np.greater(x, 0), 'float64'),
      back: np.astype(np.astype(x, 'int64'), 'float64'),
    }));
    const r = (await f(x)) as Record<string, Tensor>;
    expect(r.f32!.dtype).toBe('float32');
    expect(values(r.f32!)).toEqual([-1.5, 0, Math.fround(2.7)]);
    expect(r.i64!.dtype).toBe('int64');
    expect(values(r.i64!)).toEqual([-1, 0, 2]);
    expect(values(r.b!)).toEqual([0, 0, 1]);
    expect(values(r.back!)).toEqual([-1, 0, 2]);
  });

  it('passes derivatives between float dtypes and stops them at integers', async () => {
    const x = tensor([0.5, -1.25, 2], 'float64');
    const f = (x: Value) => np.add(np.sum(np.astype(np.mul(x, x), 'float32')), np.astype(np.sum(np.astype(x, 'int64')), 'float32'));
    const g = (await grad((x: Value) => np.astype(f(x), 'float64'))(x)) as Tensor;
    expect(g.dtype).toBe('float64');
    expect(values(g)).toEqual([1, -2.5, 4]);
  });
});

describe('comparisons (forward only)', () => {
  const cases: [string, Binary, (x: number, y: number) => boolean][] = [
    ['greater', np.greater, (x, y) => x > y],
    ['less', np.less, (x, y) => x < y],
    ['equal', np.equal, (x, y) => x === y],
    ['greaterEqual', np.greaterEqual, (x, y) => x >= y],
    ['lessEqual', np.lessEqual, (x, y) => x <= y],
  ];
  // integer-valued floats so that ties occur; [3, 1, 4] against [2, 1] broadcasts to [3, 2, 4]
  const a = tensor(Array.from({ length: 12 }, (_, i) => (i % 5) - 2), 'float64', [3, 1, 4]);
  const b = tensor([0, 1], 'float64', [2, 1]);
  const all = jit((a: Value, b: Value) => cases.map(([, op]) => op(a, b)));
  it('match plain JS with broadcasting, ties included, as bool tensors', async () => {
    const outs = (await all(a, b)) as Tensor[];
    cases.forEach(([name, , ref], k) => {
      const out = outs[k]!;
      expect(out.dtype, name).toBe('bool');
      expect(values(out), name).toEqual(values(binaryRef(a, b, (x, y) => Number(ref(x, y)))));
    });
  });

  it('NaN compares false, >= and <= included', async () => {
    const x = tensor([-1, 1], 'float64');
    const f = jit((x: Value) => {
      const nan = np.log(x); // [NaN, 0]
      return cases.map(([, op]) => op(nan, 0));
    });
    const outs = (await f(x)) as Tensor[];
    cases.forEach(([name], k) => {
      expect(values(outs[k]!)[0], name).toBe(0);
    });
    expect(outs.map((o) => values(o)[1])).toEqual([0, 0, 1, 1, 1]);
  });

  it('logical and / or / not', async () => {
    const p = tensor([0, 0, 1, 1], 'float64');
    const q = tensor([0, 1, 0, 1], 'float64');
    const f = jit((p: Value, q: Value) => {
      const [bp, bq] = [np.greater(p, 0.5), np.greater(q, 0.5)];
      return [np.logicalAnd(bp, bq), np.logicalOr(bp, bq), np.logicalNot(bp)];
    });
    const [and, or, not] = (await f(p, q)) as Tensor[];
    expect(values(and!)).toEqual([0, 0, 0, 1]);
    expect(values(or!)).toEqual([0, 1, 1, 1]);
    expect(values(not!)).toEqual([1, 1, 0, 0]);
  });
});

describe('where on booleans', () => {
  it('selects booleans (lowered without a bool Where kernel)', async () => {
    const c = tensor([1, 0, 1, 0], 'bool');
    const a = tensor([1, 1, 0, 0], 'bool');
    const b = tensor([0, 1, 1, 0], 'bool');
    const out = await jit((c: Value, a: Value, b: Value) => np.where(c, a, b))(c, a, b);
    expect(values(out)).toEqual([1, 1, 0, 0]);
  });
});
