/**
 * Exported graphs serve any batch size: the batch axis is the symbolic dimension `batch`, and every
 * graph (a cell, its VJP and JVP, a compiled fixed-point solve, a whole training step) gives the
 * library's own values at batch 1, 7 and 100 on onnxruntime-node and onnxruntime-web.
 */
import { describe, expect, it } from 'vitest';
import {
  fixedPoint, jit, jvp, loadOnnx, nn, np, OnnxError, Rng, Tensor, toOnnx, valueAndGrad, vjp, type Value,
} from '../src/index.js';

const rng = new Rng(3);
const D = 12;
const params = { W: rng.randn([D, D], 'float32', 0.15), V: rng.randn([D, 4], 'float32', 0.3) };
type P = { W: Value; V: Value };
const cell = (z: Value, x: Value, p: { W: Value }) => np.tanh(np.add(np.matmul(z, p.W), x));
const solve = (x: Value, p: { W: Value }) => fixedPoint(cell, np.zerosLike(x), [x, p], { tol: 1e-5, maxIter: 60 }).value;
const loss = (p: P, x: Value, y: Value) => np.crossEntropy(np.matmul(solve(x, p), p.V), y);

const rows = (b: number, d = D) => rng.randn([b, d], 'float32', 0.5);
const labels = (b: number) => new Tensor('int64', [b], BigInt64Array.from({ length: b }, (_, i) => BigInt(i % 4)));

/** Graphs to export: a function, example arguments at batch 2, and the arguments at batch b. */
const graphs: { name: string; fn: (...a: any[]) => unknown; args: (b: number) => Record<string, unknown> }[] = [
  { name: 'cell', fn: (z: Value, x: Value, p: P) => ({ z_next: cell(z, x, p) }), args: (b) => ({ z: rows(b), x: rows(b), params }) },
  {
    name: 'cell VJP',
    fn: (z: Value, x: Value, p: P, ct: Value) => {
      const [, pb] = vjp(cell, z, x, p);
      const [gz, gx, gp] = pb(ct) as [Value, Value, P];
      return { grad_z: gz, grad_x: gx, grad_W: gp.W };
    },
    args: (b) => ({ z: rows(b), x: rows(b), params, ct: rows(b) }),
  },
  {
    name: 'cell JVP',
    fn: (z: Value, x: Value, p: P, dz: Value, dx: Value) => {
      const [y, dy] = jvp(cell, [z, x, p], [dz, dx, { W: np.zerosLike(p.W), V: np.zerosLike(p.V) }]) as [Value, Value];
      return { z_next: y, tangent: dy };
    },
    args: (b) => ({ z: rows(b), x: rows(b), params, dz: rows(b), dx: rows(b) }),
  },
  { name: 'compiled solve', fn: (x: Value, p: P) => ({ z_star: solve(x, p) }), args: (b) => ({ x: rows(b), params }) },
  {
    name: 'training step',
    fn: (p: P, x: Value, y: Value) => {
      const [l, g] = valueAndGrad(loss)(p, x, y) as [Value, P];
      return { loss: l, grad_W: g.W, grad_V: g.V };
    },
    args: (b) => ({ params, x: rows(b), y: labels(b) }),
  },
];

const maxRel = (a: Tensor, b: Tensor) => {
  const x = a.toArray();
  const y = b.toArray();
  const scale = Math.max(1e-6, ...y.map(Math.abs));
  return Math.max(...x.map((v, i) => Math.abs(v - y[i]!))) / scale;
};

describe('exported graphs with a symbolic batch axis', () => {
  for (const g of graphs) {
    it(`${g.name}: one file runs at batch 1, 7 and 100 on both runtimes with the library's values`, async () => {
      const { bytes, manifest } = toOnnx(g.fn, g.args(2));
      // every batched input and output declares the symbolic batch
      const batchedInputs = manifest.inputs.filter((i) => !i.name.startsWith('params'));
      for (const i of batchedInputs) expect(i.shape[0], i.name).toBeNull();
      for (const runtime of ['node', 'web'] as const) {
        const m = await loadOnnx(bytes, { runtime });
        for (const b of [1, 7, 100]) {
          const example = g.args(b);
          const feeds = Object.fromEntries(
            Object.entries(example).flatMap(([k, v]) => (v instanceof Tensor ? [[k, v]] : Object.entries(v as object).map(([kk, vv]) => [`${k}.${kk}`, vv as Tensor]))),
          );
          const got = await m.run(feeds);
          const want = (await jit(g.fn)(...Object.values(example))) as Record<string, Tensor>;
          for (const [k, w] of Object.entries(want)) {
            expect(got[k]!.shape, `${k} at batch ${b}`).toEqual(w.shape);
            expect(maxRel(got[k]!, w), `${g.name}: ${k} at batch ${b} on ${runtime}`).toBeLessThan(2e-5);
          }
        }
        await m.release();
      }
    });
  }

  it('a model with BatchNorm in training mode (its unbiased-variance factor depends on the batch) exports polymorphically', async () => {
    const bn = nn.initAffine(3);
    const st = nn.initBatchNormState(3);
    const f = (x: Value) => {
      const r = nn.batchNorm(bn, st, x, { train: true });
      return { y: r.y, var: r.state.var };
    };
    const x = (b: number) => rng.randn([b, 3, 4, 4]);
    const m = await loadOnnx(toOnnx(f, { x: x(2) }).bytes);
    for (const b of [2, 7, 30]) {
      const xs = x(b);
      const got = await m.run({ x: xs });
      const want = (await jit(f)(xs)) as Record<string, Tensor>;
      expect(maxRel(got.var!, want.var!)).toBeLessThan(1e-5);
      expect(maxRel(got.y!, want.y!)).toBeLessThan(1e-5);
    }
  });

  it('batchArgs: [] keeps fixed shapes; a function that branches on the batch size is refused with the node named', async () => {
    const fixed = toOnnx(graphs[0]!.fn, graphs[0]!.args(2), { batchArgs: [] });
    expect(fixed.manifest.inputs.find((i) => i.name === 'z')!.shape).toEqual([2, D]);
    // a number that is not a simple function of the batch size (here its square) cannot be symbolic
    const squares = (x: Value) => ({ y: np.mul(x, np.shape(x)[0]! ** 2) });
    expect(() => toOnnx(squares, { x: rows(2) })).toThrow(OnnxError);
    expect(() => toOnnx(squares, { x: rows(2) })).toThrow(/Mul .*no simple rule of the batch size/);
  });
});
