/**
 * Normalisation over trailing axes as one primitive, lowered to ONNX LayerNormalization: one kernel
 * where the composite (mean, centre, square, mean, add, sqrt, divide) takes seven passes over the
 * tensor, and a linearisation that keeps only its output y and 1/σ. With r = 1/σ per group,
 *   dy = r (dx − mean(dx) − y mean(y dx)),   d r = −r² mean(y dx),
 * written with np ops, so its transpose and higher derivatives come from theirs.
 */
import { definePrimitive, type Value } from '../core/primitive.js';
import { full } from '../core/tensor.js';
import { bind } from '../core/trace.js';
import { mul, sub } from './elementwise.js';
import { mean } from './reduce.js';
import { fmtShape, normAxis, requireFloat, shapeOf } from './util.js';
import { ShapeError } from '../core/errors.js';

interface NormParams { axis: number; eps: number; [k: string]: unknown }

/** Outputs: y = (x − μ) / σ, and r = 1/σ with the normalised axes kept as 1. */
export const layerNormP = definePrimitive<NormParams>({
  name: 'layerNorm',
  shape: ([x], p) => {
    requireFloat('layerNorm', x!);
    if (p.axis < 0 || p.axis >= x!.shape.length) throw new ShapeError(`layerNorm: axis ${p.axis} out of range for ${fmtShape(x!.shape)}`);
    return [{ shape: x!.shape, dtype: x!.dtype }, { shape: x!.shape.map((d, i) => (i < p.axis ? d : 1)), dtype: x!.dtype }];
  },
  lower: (ctx, [x], p, info) => {
    const a = info.inAvals[0]!;
    if (a.dtype === 'float32') {
      const scale = ctx.constant(full(a.shape.slice(p.axis), 1, a.dtype));
      const [y, , r] = ctx.node('LayerNormalization', [x!, scale], { axis: p.axis, epsilon: { float: p.eps } }, 3);
      return [y!, r!];
    }
    // onnxruntime's float64 LayerNormalization keeps 1/σ in float32: spell it out in float64
    const axes = ctx.ints(normAxes(a.shape.length, p.axis));
    const centred = ctx.op('Sub', [x!, ctx.op('ReduceMean', [x!, axes], { keepdims: 1 })]);
    const variance = ctx.op('ReduceMean', [ctx.op('Mul', [centred, centred]), axes], { keepdims: 1 });
    const r = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(p.eps, a.dtype)])])]);
    return [ctx.op('Mul', [centred, r]), r];
  },
  jvp: ([x], [dx], p) => {
    const [y, r] = bind(layerNormP, [x!], p) as [Value, Value];
    if (!dx) return [[y, r], [null, null]];
    const axes = normAxes(shapeOf(x!).length, p.axis);
    const m = mean(mul(y, dx), axes, true);
    const dy = mul(r, sub(sub(dx, mean(dx, axes, true)), mul(y, m)));
    return [[y, r], [dy, mul(mul(r, r), sub(0, m))]];
  },
  batch: ([x], [d], p) => {
    // a batch axis in front of the normalised ones shifts them by one; one among them is unrolled
    if (d! > p.axis) return null;
    const [y, r] = bind(layerNormP, [x!], { ...p, axis: p.axis + 1 });
    return [[y!, r!], [d!, d!]];
  },
});

const normAxes = (rank: number, axis: number) => [...Array(rank - axis).keys()].map((i) => i + axis);

/** (x − mean) / sqrt(var + eps) over the axes from `axis` to the last. */
export function layerNorm(x: Value, axis = -1, eps = 1e-5): Value {
  const a = normAxis('layerNorm', axis, shapeOf(x).length);
  return bind(layerNormP, [x], { axis: a, eps })[0]!;
}
