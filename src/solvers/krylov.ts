/**
 * Batched GMRES(k) for A x = b with A given as a matvec on [B, d] batches (one Krylov space per
 * sample). The k Arnoldi steps are unrolled; the small least-squares problem is solved through its
 * normal equations with the `solve` primitive.
 */
import type { Value } from '../core/primitive.js';
import { eye, Tensor } from '../core/tensor.js';
import * as np from '../np.js';

const dotRows = (a: Value, b: Value): Value => np.sum(np.mul(a, b), 1, true); // [B, 1]
const norm = (a: Value): Value => np.sqrt(dotRows(a, a));

/** One GMRES cycle of `k` steps from x0; returns the improved x. */
export function gmresCycle(matvec: (v: Value) => Value, b: Value, x0: Value, k: number): Value {
  const dt = np.dtype(b);
  const [bs] = np.shape(b) as [number];
  const tiny = dt === 'float64' ? 1e-300 : 1e-30;
  const r0 = np.sub(b, matvec(x0));
  const beta = norm(r0);
  const V: Value[] = [np.div(r0, np.add(beta, tiny))];
  const H: Value[][] = []; // H[j][i] = h_{i,j}, [B, 1] each
  for (let j = 0; j < k; j++) {
    let w = matvec(V[j]!);
    const col: Value[] = [];
    for (let i = 0; i <= j; i++) {
      const h = dotRows(w, V[i]!);
      w = np.sub(w, np.mul(h, V[i]!));
      col.push(h);
    }
    const hn = norm(w);
    col.push(hn);
    H.push(col);
    V.push(np.div(w, np.add(hn, tiny)));
  }
  // Hm [B, k+1, k]
  const cols = H.map((col) => {
    const padded = [...col, ...Array(k + 1 - col.length).fill(null)].map((h) => h ?? np.zerosOf([bs, 1], dt));
    return np.concat(padded, 1); // [B, k+1]
  });
  const Hm = np.stack(cols, 2);
  const e1 = new Tensor(dt, [k + 1, 1]);
  (e1.data as Float64Array)[0] = 1;
  const g = np.mul(np.expandDims(beta, 2), e1); // [B, k+1, 1]
  const Ht = np.mT(Hm);
  const tinyEye = eye(k, dt, dt === 'float64' ? 1e-14 : 1e-7);
  // a ridge relative to ‖r0‖² keeps the normal equations solvable once the Krylov space is exhausted
  const ridge = np.mul(tinyEye, np.reshape(np.add(np.mul(beta, beta), tiny), [bs, 1, 1]));
  const y = np.solve(np.add(np.matmul(Ht, Hm), ridge), np.matmul(Ht, g)); // [B, k, 1]
  const Vk = np.stack(V.slice(0, k), 2); // [B, d, k]
  return np.add(x0, np.squeeze(np.matmul(Vk, y), [2]));
}
