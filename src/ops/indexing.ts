/** take: one slice along an axis at a traced int64 scalar index, a gather with a scalar index. */
import { ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { gather } from './gather.js';
import { dtypeOf, fmtShape, shapeOf } from './util.js';

/** x[..., i, ...] along `axis`, with i a traced int64 scalar. */
export function take(x: Value, i: Value, axis: number): Value {
  if (dtypeOf(i) !== 'int64' || shapeOf(i).length !== 0) throw new ShapeError(`take: the index must be an int64 scalar, got ${dtypeOf(i)}${fmtShape(shapeOf(i))}`);
  return gather(x, i, axis);
}
