/**
 * The MLP DEQ of bench/js_peer.ts in TensorFlow.js on its wasm backend (@tensorflow/tfjs +
 * @tensorflow/tfjs-backend-wasm), loading the .wasm binaries from node_modules (no network).
 * The parameters' gradients come from tf.grads; the backward solve applies the cell's VJP
 * w ↦ ((1 − f(z*)²) ⊙ w) Wᵀ, the product PyTorch's retained graph computes, because TF.js can only
 * form a VJP by re-running the forward pass.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
// the umbrella package, not tfjs-core alone: only its Node bundle registers the ops' gradients
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { ADAM, BATCH, CLASSES, type HostParams, IN, mixWeights, type PeerImpl, SOLVER, WIDTH } from './js_peer_common.js';

type T2 = tf.Tensor2D;

export async function makeTfjsPeer(host: HostParams, threads: number): Promise<PeerImpl> {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(`${join(pkg, 'dist')}/`);
  setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js: the wasm backend did not initialise');
  await tf.ready();
  const version = `tfjs-core ${tf.version_core}, wasm backend, simd ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, ${getThreadsCount()} thread(s)`;

  let p = {
    encW: tf.tensor2d(host.encW, [IN, WIDTH]), encB: tf.tensor1d(host.encB), W: tf.tensor2d(host.W, [WIDTH, WIDTH]),
    decW: tf.tensor2d(host.decW, [WIDTH, CLASSES]), decB: tf.tensor1d(host.decB),
  };
  type P = typeof p;
  const keys = Object.keys(p) as (keyof P)[];
  let m = Object.fromEntries(keys.map((k) => [k, tf.zerosLike(p[k])])) as P;
  let v = Object.fromEntries(keys.map((k) => [k, tf.zerosLike(p[k])])) as P;
  let t = 0;

  /** Anderson on z ↦ f(z) from z0 (the tutorial's, with a sliding window); returns z and the library's count. */
  function anderson(f: (z: T2) => T2, z0: T2): { z: T2; iters: number } {
    const [b, d] = z0.shape;
    const X: T2[] = [tf.clone(z0)];
    const F: T2[] = [f(z0)];
    X.push(tf.clone(F[0]!));
    F.push(f(F[0]!));
    let k = 1;
    for (k = 2; k < SOLVER.maxIter; k++) {
      const n = X.length;
      const gg = tf.tidy(() => {
        const G = tf.stack(F.map((fi, i) => tf.sub(fi, X[i]!)), 1) as tf.Tensor3D;
        return tf.matMul(G, G, false, true);
      });
      const alpha = mixWeights(gg.dataSync() as Float32Array, b, n, SOLVER.lam);
      gg.dispose();
      const x = tf.tidy(() => tf.reshape(tf.matMul(tf.tensor3d(alpha, [b, 1, n]), tf.stack(F, 1) as tf.Tensor3D), [b, d]) as T2);
      const fx = f(x);
      const res = tf.tidy(() => tf.max(tf.div(tf.norm(tf.sub(fx, x), 'euclidean', 1), tf.add(tf.norm(fx, 'euclidean', 1), 1e-5))));
      const r = res.dataSync()[0]!;
      res.dispose();
      X.push(x);
      F.push(fx);
      if (X.length > SOLVER.m) { X.shift()!.dispose(); F.shift()!.dispose(); }
      if (r < SOLVER.tol) break;
    }
    const z = X.pop()!;
    for (const a of [...X, ...F]) a.dispose();
    return { z, iters: k - 1 };
  }

  const cell = (z: T2, h: T2, W: T2) => tf.tanh(tf.add(tf.matMul(z, W), h)) as T2;

  return {
    name: 'tfjs',
    version,
    async step(xs, labels) {
      const x = tf.tensor2d(xs, [BATCH, IN]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES);
      const h = tf.tidy(() => tf.add(tf.matMul(x, p.encW), p.encB) as T2);
      const z0 = tf.zerosLike(h);
      const fwd = anderson((z) => tf.tidy(() => cell(z, h, p.W)), z0);
      const zOut = tf.tidy(() => cell(fwd.z, h, p.W));
      const head = tf.valueAndGrads((zo: tf.Tensor, dW: tf.Tensor, dB: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(zo as T2, dW as T2), dB)) as tf.Scalar);
      const { value: loss, grads: [gZ, gDecW, gDecB] } = head([zOut, p.decW, p.decB]);
      const s = tf.tidy(() => tf.sub(1, tf.square(zOut)));
      const bwd = anderson((w) => tf.tidy(() => tf.add(tf.matMul(tf.mul(w, s), p.W, false, true), gZ!) as T2), gZ as T2);
      const inner = tf.grads((eW: tf.Tensor, eB: tf.Tensor, Wc: tf.Tensor) => cell(fwd.z, tf.add(tf.matMul(x, eW as T2), eB) as T2, Wc as T2));
      const [gEncW, gEncB, gW] = inner([p.encW, p.encB, p.W], bwd.z);
      const g = { encW: gEncW!, encB: gEncB!, W: gW!, decW: gDecW!, decB: gDecB! } as P;
      // clip the global norm at 2 as torch.nn.utils.clip_grad_norm_, then Adam with PyTorch's bias correction
      const norm = tf.tidy(() => tf.sqrt(tf.addN(keys.map((k) => tf.sum(tf.square(g[k]))))).dataSync()[0]!);
      const scale = Math.min(1, ADAM.clip / (norm + 1e-6));
      t++;
      const c1 = 1 - ADAM.beta1 ** t, c2 = 1 - ADAM.beta2 ** t;
      const next = tf.tidy(() => {
        const out = { p: {} as P, m: {} as P, v: {} as P };
        for (const k of keys) {
          const gk = tf.mul(g[k], scale);
          const mk = tf.add(tf.mul(m[k], ADAM.beta1), tf.mul(gk, 1 - ADAM.beta1));
          const vk = tf.add(tf.mul(v[k], ADAM.beta2), tf.mul(tf.square(gk), 1 - ADAM.beta2));
          (out.m as Record<string, tf.Tensor>)[k] = mk;
          (out.v as Record<string, tf.Tensor>)[k] = vk;
          (out.p as Record<string, tf.Tensor>)[k] = tf.sub(p[k], tf.div(tf.mul(mk, ADAM.lr / c1), tf.add(tf.sqrt(tf.div(vk, c2)), ADAM.eps)));
        }
        return out;
      });
      const lossValue = loss.dataSync()[0]!;
      tf.dispose([x, y, h, z0, fwd.z, zOut, loss, s, bwd.z, gZ!, ...Object.values(g), ...Object.values(p), ...Object.values(m), ...Object.values(v)]);
      ({ p, m, v } = next);
      return { loss: lossValue, fwd: fwd.iters, bwd: bwd.iters };
    },
    async evaluate(xs, n) {
      const x = tf.tensor2d(xs, [n, IN]);
      const h = tf.tidy(() => tf.add(tf.matMul(x, p.encW), p.encB) as T2);
      const z0 = tf.zerosLike(h);
      const fwd = anderson((z) => tf.tidy(() => cell(z, h, p.W)), z0);
      const pred = tf.tidy(() => tf.argMax(tf.add(tf.matMul(cell(fwd.z, h, p.W), p.decW), p.decB), 1));
      await pred.data();
      tf.dispose([x, h, z0, fwd.z, pred]);
      return { fwd: fwd.iters };
    },
  };
}
