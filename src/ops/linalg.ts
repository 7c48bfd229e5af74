/** Batched matmul with numpy semantics (bilinear: JVP by the product rule, transpose per operand). */
import { ShapeError, TransformError } from '../core/errors.js';
import { definePrimitive, type Primitive, Undefined, type Value } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { add } from './elementwise.js';
import { broadcastBatch } from './batching.js';
import { mT, reshape, unbroadcast } from './shape.js';
import { broadcastShapes, fmtShape, sameDType, shapeOf } from './util.js';

export const matmulP: Primitive = definePrimitive({
  name: 'matmul',
  shape: ([a, b]) => {
    const d = sameDType('matmul', [a!, b!]);
    const sa = a!.shape;
    const sb = b!.shape;
    if (sa.length < 2 || sb.length < 2 || sa[sa.length - 1] !== sb[sb.length - 2]) {
      throw new ShapeError(
        `matmul: shapes ${fmtShape(sa)} and ${fmtShape(sb)} do not fit: the last axis of the first (${sa[sa.length - 1]}) ` +
          `must equal the second-to-last of the second (${sb[sb.length - 2]}). Transpose an operand with np.mT(x).`,
      );
    }
    const batch = broadcastShapes('matmul (batch axes)', sa.slice(0, -2), sb.slice(0, -2));
    return [{ shape: [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!], dtype: d }];
  },
  lower: (ctx, [a, b]) => [ctx.op('MatMul', [a!, b!])],
  jvp: ([a, b], [da, db]) => {
    const out = matmul(a!, b!);
    const x = da && matmul(da, b!);
    const y = db && matmul(a!, db);
    return [[out], [x && y ? add(x, y) : x ?? y]];
  },
  transpose: ([ct], [a, b]) => {
    if (a instanceof Undefined && b instanceof Undefined) throw new TransformError('matmul: both operands are linear; the product is not linear');
    return [
      ct && a instanceof Undefined ? unbroadcast(matmul(ct, mT(b as Value)), a.aval.shape) : null,
      ct && b instanceof Undefined ? unbroadcast(matmul(mT(a as Value), ct), b.aval.shape) : null,
    ];
  },
  // numpy batch semantics: batch axes in front, padded with ones up to the larger operand's rank
  batch: (xs, ds, p) => broadcastBatch(matmulP)(xs, ds, p),
});

/** Matrix product; 1-D operands are treated as row / column vectors as numpy does. */
export function matmul(a: Value, b: Value): Value {
  const sa = shapeOf(a);
  const sb = shapeOf(b);
  const ra = sa.length;
  const rb = sb.length;
  // check here too so that the message shows the shapes as given, not the reshaped 1-D operands
  if (ra === 0 || rb === 0 || sa[ra - 1] !== sb[rb === 1 ? 0 : rb - 2]) {
    throw new ShapeError(
      `matmul: shapes ${fmtShape(sa)} and ${fmtShape(sb)} do not fit: ` +
        (ra === 0 || rb === 0
          ? 'operands must have at least one axis (use np.mul for scalars).'
          : `the last axis of the first (${sa[ra - 1]}) must equal the ${rb === 1 ? 'length' : 'second-to-last axis'} of the second (${sb[rb === 1 ? 0 : rb - 2]}). Transpose an operand with np.mT(x).`),
    );
  }
  const a2 = ra === 1 ? reshape(a, [1, shapeOf(a)[0]!]) : a;
  const b2 = rb === 1 ? reshape(b, [shapeOf(b)[0]!, 1]) : b;
  let out: Value = bind1(matmulP, [a2, b2]);
  if (ra === 1 || rb === 1) {
    const s = [...shapeOf(out)];
    if (rb === 1) s.splice(s.length - 1, 1);
    if (ra === 1) s.splice(s.length - (rb === 1 ? 1 : 2), 1);
    out = reshape(out, s);
  }
  return out;
}

