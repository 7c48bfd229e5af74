/** take: one slice along an axis at a traced int64 index (ONNX Gather). Its transpose scatters with a one-hot mask. */
import { definePrimitive, Undefined, type Value } from '../core/primitive.js';
import { ShapeError } from '../core/errors.js';
import { iota } from '../core/tensor.js';
import { bind1 } from '../core/trace.js';
import { astype, equal, mul } from './elementwise.js';
import { batchFirst, expandDims, reshape } from './shape.js';
import { fmtShape, normAxis, shapeOf } from './util.js';

export const takeP = definePrimitive<{ axis: number }>({
  name: 'take',
  shape: ([x, i], p) => {
    if (i!.dtype !== 'int64' || i!.shape.length !== 0) throw new ShapeError(`take: the index must be an int64 scalar, got ${i!.dtype}${fmtShape(i!.shape)}`);
    return [{ shape: x!.shape.filter((_, k) => k !== p.axis), dtype: x!.dtype }];
  },
  lower: (ctx, [x, i], p) => [ctx.op('Gather', [x!, i!], { axis: p.axis })],
  jvp: ([x, i], [dx], p) => [[take(x!, i!, p.axis)], [dx && take(dx, i!, p.axis)]],
  transpose: ([ct], [x, i], p) => {
    if (!ct || !(x instanceof Undefined)) return [null, null];
    // scatter back: the cotangent lands in slice i, zeros elsewhere
    const s = x.aval.shape;
    const n = s[p.axis]!;
    const mask = reshape(astype(equal(iota(n), i as Value), x.aval.dtype), s.map((d, k) => (k === p.axis ? d : 1)));
    return [mul(expandDims(ct, p.axis), mask), null];
  },
  // a batched index gathers a different slice per example: left to the unrolled fallback
  batch: ([x, i], [d, di], p) => (di !== null ? null : [[take(batchFirst(x!, d!), i!, p.axis + 1)], [0]]),
});
/** x[..., i, ...] along `axis`, with i a traced int64 scalar. */
export function take(x: Value, i: Value, axis: number): Value {
  return bind1(takeP, [x, i], { axis: normAxis('take', axis, shapeOf(x).length) });
}

