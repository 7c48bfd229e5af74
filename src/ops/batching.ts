/** Helpers shared by the batching rules (vmap) of the primitives. */
import type { Params } from '../core/ir.js';
import type { Primitive, Value } from '../core/primitive.js';
import { bind } from '../core/trace.js';
import { batchFirst, reshape } from './shape.js';
import { shapeOf } from './util.js';

/**
 * Operands of a broadcasting op with the batch axis in front: each batched operand gets ones
 * after its batch axis up to the largest example rank, so that numpy broadcasting lines the
 * batch axes up with each other and never with an example axis; unbatched operands broadcast
 * against the example axes as they are.
 */
export function alignBatched(xs: readonly Value[], ds: readonly (number | null)[]): Value[] {
  const rank = Math.max(...xs.map((x, i) => shapeOf(x).length - (ds[i] === null ? 0 : 1)));
  return xs.map((x, i) => {
    if (ds[i] === null) return x;
    const xb = batchFirst(x, ds[i]!);
    const [n, ...s] = shapeOf(xb);
    return reshape(xb, [n!, ...new Array<number>(rank - s.length).fill(1), ...s]);
  });
}
/** Batching rule of broadcasting primitives (elementwise, where, matmul): outputs batched at 0. */
export const broadcastBatch = (prim: Primitive) => (xs: Value[], ds: (number | null)[], params: Params): [Value[], (number | null)[]] => {
  const outs = bind(prim, alignBatched(xs, ds), params);
  return [outs, outs.map(() => 0)];
};
