/**
 * The two ways of running a solver: compiled into one whileLoop (one session.run for the whole
 * solve, and for the implicit backward pass with it) and the host loop (one run per step). Both
 * run the same init/step functions, so they must produce the same iterates.
 */
import { describe, expect, it } from 'vitest';
import { fixedPoint, fixedPointHost, jit, np, Rng, Tensor, valueAndGrad, type SolverName, type Value } from '../src/index.js';

const rng = new Rng(4242);
const n = 10;
const W = rng.randn([n, n], 'float64', 0.25);
const x = rng.randn([4, n], 'float64');
const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));
const solvers: SolverName[] = ['forward', 'anderson', 'broyden', 'newton', 'newtonKrylov'];

type RunFn = (...a: unknown[]) => Promise<unknown>;
/**
 * Where onnxruntime-node's runs go: its session handler, which every run reaches, whether through
 * InferenceSession.run or, as the library's in-process sessions call it, directly.
 */
async function handlerPrototype(): Promise<{ run: RunFn }> {
  const probe = jit((a: Value) => np.neg(a));
  const raw = (await probe.compile(x)).session.raw as unknown as { handler: object };
  const proto = Object.getPrototypeOf(raw.handler) as { run: RunFn };
  await probe.release();
  return proto;
}

/** Count every onnxruntime session run made while `fn` runs, at the session handler. */
async function countingRuns<T>(fn: () => Promise<T>): Promise<T & { counted: number }> {
  const proto = await handlerPrototype();
  const original = proto.run;
  let counted = 0;
  proto.run = function (this: unknown, ...a: unknown[]) { counted++; return original.apply(this, a); };
  try {
    const r = await fn();
    return { ...r, counted };
  } finally {
    proto.run = original;
  }
}

describe('compiled loop vs host loop', () => {
  for (const solver of solvers) {
    it(`${solver}: the same iterates, residual by residual; the host took iterations + 1 runs`, async () => {
      const opts = { solver, tol: 1e-11, maxIter: 200, trace: true };
      const compiled = jit((x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], opts));
      const c = (await compiled(x, W)) as { value: Tensor; stats: Record<string, Tensor> };
      const k = c.stats.iterations!.item();
      expect(c.stats.converged!.item()).toBe(1);
      expect(k).toBeGreaterThan(0);

      const seen: number[] = [];
      const h = await countingRuns(() => fixedPointHost(cell, new Tensor('float64', x.shape), [x, W], { ...opts, onIterate: (i) => seen.push(i) }));
      expect(h.outcome._tag).toBe('Right');
      expect(h.runs).toBe(k + 1);
      expect(h.counted).toBe(k + 1); // counted at onnxruntime itself: one init run, one per step
      expect(seen).toEqual(Array.from({ length: k }, (_, i) => i + 1));
      expect(h.residuals).toEqual(c.stats.trace!.toArray().slice(0, k));
      expect(h.value.toArray()).toEqual(c.value.toArray());
      expect(c.stats.trace!.toArray().slice(k).every((v) => v === 0)).toBe(true);
    });
  }
});

describe('one session.run per compiled training step', () => {
  it('jit(valueAndGrad) over a fixedPoint: forward solve and implicit backward solve in a single run', async () => {
    const r = rng.randn([4, n], 'float64');
    const loss = (W: Value, x: Value) => {
      const { value, stats } = fixedPoint(cell, np.zerosLike(x), [x, W], { solver: 'anderson', tol: 1e-10, maxIter: 100 });
      return [np.sum(np.mul(value, r)), stats.iterations];
    };
    const step = jit(valueAndGrad(loss, { hasAux: true }));
    const compiled = await step.compile(W, x);
    const handler = (compiled.session.raw as unknown as { handler: { run: RunFn } }).handler;
    const original = handler.run.bind(handler);
    let runs = 0;
    handler.run = (...a) => { runs++; return original(...a); };
    try {
      const [[, iters], g] = (await step(W, x)) as [[Tensor, Tensor], Tensor];
      expect(runs).toBe(1);
      expect(iters.item()).toBeGreaterThan(2);
      expect(g.shape).toEqual([n, n]);
      // both solves ran inside that run: the graph that runs (expanded: no solver primitive is
      // left for the backend) holds one loop per solve, and each reported its statistics
      const names = compiled.graph.eqns.map((e) => e.prim.name);
      expect(names.filter((n) => n === 'whileLoop')).toHaveLength(2);
      expect(names.filter((n) => n === 'fixedPoint' || n === 'linearSolve')).toEqual([]);
      expect(step.lastTaps['fixedPoint.forward']![0]!.converged!.item()).toBe(1);
      expect(step.lastTaps['fixedPoint.backward']![0]!.converged!.item()).toBe(1);
      await step(W, x);
      expect(runs).toBe(2);
      expect(step.traceCount).toBe(1);
    } finally {
      handler.run = original;
    }
  });
});
