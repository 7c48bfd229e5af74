/**
 * The MLP DEQ of bench/js_peer.ts in jax-js (@jax-js/jax) on its wasm device. In Node there is no
 * Web Worker global, so jax-js's wasm backend runs single-threaded. Every array function is
 * jit-compiled (fused kernels); jax-js arrays are reference-counted: a call consumes its array
 * arguments, `.ref` keeps one alive for a later use.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defaultDevice, grad, init, jit, nn, numpy as np, valueAndGrad } from '@jax-js/jax';
import { ADAM, BATCH, CLASSES, type F32, type HostParams, IN, mixWeights, type PeerImpl, SOLVER, WIDTH } from './js_peer_common.js';

type A = np.Array;
interface P { encW: A; encB: A; W: A; decW: A; decB: A }
const KEYS = ['encW', 'encB', 'W', 'decW', 'decB'] as const;

const cellOf = (z: A, h: A, W: A): A => np.tanh(np.add(np.matmul(z, W), h));
const rowNorm = (a: A): A => np.sqrt(np.sum(np.square(a), 1));

export async function makeJaxPeer(host: HostParams, threads: number): Promise<PeerImpl> {
  await init('wasm');
  defaultDevice('wasm');
  // the package exports no ./package.json: read it next to the resolved entry point
  const entry = createRequire(import.meta.url).resolve('@jax-js/jax');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  const version = `@jax-js/jax ${pkg.version}, wasm device, 1 thread (no Web Worker in Node; ${threads} asked)`;
  const arr = (data: F32, shape: number[]) => np.array(data).reshape(shape);
  let p: P = {
    encW: arr(host.encW, [IN, WIDTH]), encB: arr(host.encB, [WIDTH]), W: arr(host.W, [WIDTH, WIDTH]),
    decW: arr(host.decW, [WIDTH, CLASSES]), decB: arr(host.decB, [CLASSES]),
  };
  let m = Object.fromEntries(KEYS.map((k) => [k, np.zerosLike(p[k].ref)])) as unknown as P;
  let v = Object.fromEntries(KEYS.map((k) => [k, np.zerosLike(p[k].ref)])) as unknown as P;
  let t = 0;

  const encode = jit((x: A, eW: A, eB: A) => np.add(np.matmul(x, eW), eB));
  const cell = jit(cellOf);
  const gram = jit((X: A[], F: A[]) => {
    const G = np.stack(F.map((f, i) => np.subtract(f, X[i]!)), 1);
    return np.matmul(G.ref, np.matrixTranspose(G));
  });
  /** One Anderson step after the weights: x = αF, f(x), and the largest per-sample relative residual. */
  const stepWith = (map: (x: A, c: A[]) => A) => jit((alpha: A, F: A[], c: A[]) => {
    const [b, , d] = [alpha.shape[0]!, 0, F[0]!.shape[1]!];
    const x = np.reshape(np.matmul(alpha, np.stack(F, 1)), [b, d]);
    const fx = map(x.ref, c);
    const res = np.max(np.divide(rowNorm(np.subtract(fx.ref, x.ref)), np.add(rowNorm(fx.ref), 1e-5)));
    return [x, fx, res];
  });
  const forwardStep = stepWith((x, [h, W]) => cellOf(x, h!, W!));
  // the cell's VJP at z*: w ↦ ((1 − f(z*)²) ⊙ w) Wᵀ, plus the right-hand side g
  const backwardMap = (w: A, [s, W, g]: A[]) => np.add(np.matmul(np.multiply(w, s!), np.matrixTranspose(W!)), g!);
  const backwardStep = stepWith(backwardMap);
  const backwardFirst = jit((w: A, s: A, W: A, g: A) => backwardMap(w, [s, W, g]));

  /** Anderson from z0 with f(z0) and f(f(z0)) given by `first`; consumes z0 and the consts. */
  function anderson(first: (z: A) => A, step: ReturnType<typeof stepWith>, z0: A, consts: A[]): { z: A; iters: number } {
    const [b] = z0.shape as [number];
    const f0 = first(z0.ref);
    const X: A[] = [z0, f0.ref];
    const F: A[] = [f0.ref, first(f0)];
    let k = 1;
    for (k = 2; k < SOLVER.maxIter; k++) {
      const n = X.length;
      const gg = gram(X.map((a) => a.ref), F.map((a) => a.ref));
      const alpha = mixWeights(gg.dataSync() as Float32Array, b, n, SOLVER.lam);
      const [x, fx, res] = step(np.array(alpha).reshape([b, 1, n]), F.map((a) => a.ref), consts.map((c) => c.ref)) as A[];
      const r = (res!.dataSync() as Float32Array)[0]!;
      X.push(x!);
      F.push(fx!);
      if (X.length > SOLVER.m) { X.shift()!.dispose(); F.shift()!.dispose(); }
      if (r < SOLVER.tol) break;
    }
    const z = X.pop()!;
    for (const a of [...X, ...F, ...consts]) a.dispose();
    return { z, iters: k - 1 };
  }

  const head = jit(valueAndGrad((zo: A, dW: A, dB: A, y1h: A) =>
    np.negative(np.mean(np.sum(np.multiply(nn.logSoftmax(np.add(np.matmul(zo, dW), dB), 1), y1h), 1))), { argnums: [0, 1, 2] }));
  // the parameters' gradients through one application of the cell at z*, with cotangent w: ∇⟨w, f⟩
  const inner = jit(grad((eW: A, eB: A, W: A, z: A, x: A, w: A) =>
    np.sum(np.multiply(cellOf(z, np.add(np.matmul(x, eW), eB), W), w)), { argnums: [0, 1, 2] }));
  const sqNorm = jit((g: A[]) => np.sum(np.stack(g.map((a) => np.sum(np.square(a))))));
  const adamUpdate = jit((pp: A[], gg: A[], mm: A[], vv: A[], scale: A, lrc1: A, c2: A) => {
    const out: A[][] = [[], [], []];
    pp.forEach((pk, i) => {
      const gk = np.multiply(gg[i]!, scale.ref);
      const mk = np.add(np.multiply(mm[i]!, ADAM.beta1), np.multiply(gk.ref, 1 - ADAM.beta1));
      const vk = np.add(np.multiply(vv[i]!, ADAM.beta2), np.multiply(np.square(gk), 1 - ADAM.beta2));
      out[0]!.push(np.subtract(pk, np.divide(np.multiply(mk.ref, lrc1.ref), np.add(np.sqrt(np.divide(vk.ref, c2.ref)), ADAM.eps))));
      out[1]!.push(mk);
      out[2]!.push(vk);
    });
    scale.dispose(); lrc1.dispose(); c2.dispose();
    return out;
  });

  function solveForward(x: A): { h: A; z: A; iters: number } {
    const h = encode(x, p.encW.ref, p.encB.ref);
    const first = (z: A) => cell(z, h.ref, p.W.ref);
    const r = anderson(first, forwardStep, np.zerosLike(h.ref), [h.ref, p.W.ref]);
    return { h, ...r };
  }

  return {
    name: 'jax-js',
    version,
    async step(xs, labels) {
      const x = arr(xs, [BATCH, IN]);
      const oneHot = new Float32Array(BATCH * CLASSES);
      labels.forEach((l, i) => { oneHot[i * CLASSES + l] = 1; });
      const fwd = solveForward(x.ref);
      const zOut = cell(fwd.z.ref, fwd.h, p.W.ref);
      const [loss, [gZ, gDecW, gDecB]] = head(zOut.ref, p.decW.ref, p.decB.ref, arr(oneHot, [BATCH, CLASSES])) as [A, A[]];
      const s = np.subtract(1, np.square(zOut));
      const firstB = (w: A) => backwardFirst(w, s.ref, p.W.ref, gZ!.ref);
      const bwd = anderson(firstB, backwardStep, gZ!.ref, [s, p.W.ref, gZ!]);
      const [gEncW, gEncB, gW] = inner(p.encW.ref, p.encB.ref, p.W.ref, fwd.z, x, bwd.z) as A[];
      const g: P = { encW: gEncW!, encB: gEncB!, W: gW!, decW: gDecW!, decB: gDecB! };
      const norm = Math.sqrt((sqNorm(KEYS.map((k) => g[k].ref)).dataSync() as Float32Array)[0]!);
      t++;
      const scalar = (a: number) => np.array(new Float32Array([a]));
      const [np_, nm, nv] = adamUpdate(KEYS.map((k) => p[k]), KEYS.map((k) => g[k]), KEYS.map((k) => m[k]), KEYS.map((k) => v[k]),
        scalar(Math.min(1, ADAM.clip / (norm + 1e-6))), scalar(ADAM.lr / (1 - ADAM.beta1 ** t)), scalar(1 - ADAM.beta2 ** t)) as A[][];
      const tree = (xs: A[]) => Object.fromEntries(KEYS.map((k, i) => [k, xs[i]!])) as unknown as P;
      p = tree(np_!); m = tree(nm!); v = tree(nv!);
      const lossValue = (loss!.dataSync() as Float32Array)[0]!;
      return { loss: lossValue, fwd: fwd.iters, bwd: bwd.iters };
    },
    async evaluate(xs, n) {
      const fwd = solveForward(arr(xs, [n, IN]));
      const logits = np.add(np.matmul(cell(fwd.z, fwd.h, p.W.ref), p.decW.ref), p.decB.ref);
      await np.argmax(logits, 1).data();
      return { fwd: fwd.iters };
    },
  };
}
