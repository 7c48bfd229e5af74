/** Elementwise primitives with numpy broadcasting: arithmetic, unary maths, comparisons, where, cast. */
import { type DType, isFloat } from '../core/dtype.js';
import { DTypeError, TransformError } from '../core/errors.js';
import type { Aval } from '../core/ir.js';
import { type Primitive, definePrimitive, Undefined, type Value } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { broadcastBatch } from './batching.js';
import { broadcastTo, unbroadcast, zerosOf } from './shape.js';
import { type ArrayLike, broadcastShapes, dtypeOf, lift, requireFloat, sameDType, shapeOf } from './util.js';

const outAval = (name: string, xs: readonly Aval[], dtype?: DType): Aval => {
  const d = sameDType(name, xs);
  const shape = xs.reduce<number[]>((s, x) => broadcastShapes(name, s, x.shape), []);
  return { shape, dtype: dtype ?? d };
};

/** Broadcast a tangent (or null) to the output shape. */
const bt = (d: Value | null, shape: readonly number[]): Value | null => d && broadcastTo(d, shape);
const undefShape = (x: Value | Undefined) => (x instanceof Undefined ? x.aval.shape : shapeOf(x));

function binary(
  name: string,
  onnx: string,
  jvp: Primitive['jvp'],
  transpose?: Primitive['transpose'],
): Primitive {
  const p: Primitive = definePrimitive({
    name,
    shape: (xs) => [outAval(name, xs)],
    lower: (ctx, xs) => [ctx.op(onnx, xs)],
    jvp,
    transpose,
    batch: (xs, ds, params) => broadcastBatch(p)(xs, ds, params),
  });
  return p;
}

// ---- arithmetic ------------------------------------------------------------------------------
export const addP = binary('add', 'Add',
  ([x, y], [dx, dy]) => {
    const out = add(x!, y!);
    const s = shapeOf(out);
    return [[out], [dx && dy ? add(dx, dy) : bt(dx ?? dy, s)]];
  },
  ([ct], [x, y]) => [
    ct && x instanceof Undefined ? unbroadcast(ct, undefShape(x)) : null,
    ct && y instanceof Undefined ? unbroadcast(ct, undefShape(y)) : null,
  ]);

export const subP = binary('sub', 'Sub',
  ([x, y], [dx, dy]) => {
    const out = sub(x!, y!);
    const s = shapeOf(out);
    return [[out], [dx && dy ? sub(dx, dy) : dx ? bt(dx, s) : dy ? bt(neg(dy), s) : null]];
  },
  ([ct], [x, y]) => [
    ct && x instanceof Undefined ? unbroadcast(ct, undefShape(x)) : null,
    ct && y instanceof Undefined ? unbroadcast(neg(ct), undefShape(y)) : null,
  ]);

export const mulP = binary('mul', 'Mul',
  ([x, y], [dx, dy]) => {
    const out = mul(x!, y!);
    const s = shapeOf(out);
    const a = dx && mul(dx, y!);
    const b = dy && mul(x!, dy);
    return [[out], [a && b ? add(a, b) : bt(a ?? b, s)]];
  },
  ([ct], [x, y]) => {
    if (x instanceof Undefined && y instanceof Undefined) throw new TransformError('mul: both operands are linear; the product is not linear');
    return [
      ct && x instanceof Undefined ? unbroadcast(mul(ct, y as Value), x.aval.shape) : null,
      ct && y instanceof Undefined ? unbroadcast(mul(x as Value, ct), y.aval.shape) : null,
    ];
  });

export const divP = binary('div', 'Div',
  ([x, y], [dx, dy]) => {
    const out = div(x!, y!);
    const s = shapeOf(out);
    const a = dx && div(dx, y!);
    const b = dy && neg(div(mul(out, dy), y!));
    return [[out], [a && b ? add(a, b) : bt(a ?? b, s)]];
  },
  ([ct], [x, y]) => {
    if (y instanceof Undefined) throw new TransformError('div: not linear in the denominator');
    return [ct && x instanceof Undefined ? unbroadcast(div(ct, y), x.aval.shape) : null, null];
  });

export const powP = binary('pow', 'Pow', ([x, y], [dx, dy]) => {
  const out = pow(x!, y!);
  const s = shapeOf(out);
  // d/dx x^y = y x^(y-1); d/dy x^y = log(x) x^y (only where asked: log of negatives is NaN)
  const a = dx && mul(dx, mul(y!, pow(x!, sub(y!, 1))));
  const b = dy && mul(dy, mul(log(x!), out));
  return [[out], [a && b ? add(a, b) : bt(a ?? b, s)]];
});

function minmax(name: string, onnx: string, pick: (x: Value, y: Value) => Value) {
  return binary(name, onnx, ([x, y], [dx, dy]) => {
    const out = bind1(name === 'maximum' ? maximumP : minimumP, [x!, y!]);
    const s = shapeOf(out);
    if (!dx && !dy) return [[out], [null]];
    const zero = zerosOf(s, dtypeOf(out));
    // ties go to the first operand
    return [[out], [where(pick(x!, y!), bt(dx, s) ?? zero, bt(dy, s) ?? zero)]];
  });
}
export const maximumP: Primitive = minmax('maximum', 'Max', (x, y) => greaterEqual(x, y));
export const minimumP: Primitive = minmax('minimum', 'Min', (x, y) => lessEqual(x, y));

// ---- unary -----------------------------------------------------------------------------------
function unary(
  name: string,
  onnx: string,
  tangent: ((x: Value, dx: Value, y: Value) => Value) | null,
  opts: { float?: boolean; linear?: boolean } = {},
): Primitive {
  const p: Primitive = definePrimitive({
    name,
    shape: ([x]) => {
      if (opts.float) requireFloat(name, x!);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    lower: (ctx, [x]) => [ctx.op(onnx, [x!])],
    jvp: ([x], [dx]) => {
      const y = bind1(p, [x!]);
      return [[y], [dx && tangent ? tangent(x!, dx, y) : null]];
    },
    transpose: opts.linear ? ([ct]) => [ct && bind1(p, [ct])] : undefined,
    // elementwise: the batch axis stays where it is
    batch: ([x], [d]) => [[bind1(p, [x!])], [d!]],
  });
  return p;
}

export const negP = unary('neg', 'Neg', (_x, dx) => neg(dx), { linear: true });
export const expP = unary('exp', 'Exp', (_x, dx, y) => mul(dx, y), { float: true });
export const logP = unary('log', 'Log', (x, dx) => div(dx, x), { float: true });
export const tanhP = unary('tanh', 'Tanh', (_x, dx, y) => mul(dx, sub(1, mul(y, y))), { float: true });
export const sigmoidP = unary('sigmoid', 'Sigmoid', (_x, dx, y) => mul(dx, mul(y, sub(1, y))), { float: true });
export const reluP = unary('relu', 'Relu', (x, dx) => where(greater(x, 0), dx, zerosOf(shapeOf(dx), dtypeOf(dx))));
export const sqrtP = unary('sqrt', 'Sqrt', (_x, dx, y) => div(dx, mul(2, y)), { float: true });
export const absP = unary('abs', 'Abs', (x, dx) => mul(dx, sign(x)));
export const signP = unary('sign', 'Sign', null);

// ---- comparisons (boolean results, no derivative) --------------------------------------------
function compare(name: string, lowerFn: (ctx: Parameters<NonNullable<Primitive['lower']>>[0], a: string, b: string) => string): Primitive {
  const p: Primitive = definePrimitive({
    name,
    nondifferentiable: true,
    shape: (xs) => [outAval(name, xs, 'bool')],
    lower: (ctx, [a, b]) => [lowerFn(ctx, a!, b!)],
    batch: (xs, ds, params) => broadcastBatch(p)(xs, ds, params),
  });
  return p;
}
export const greaterP = compare('greater', (c, a, b) => c.op('Greater', [a, b]));
export const lessP = compare('less', (c, a, b) => c.op('Less', [a, b]));
export const equalP = compare('equal', (c, a, b) => c.op('Equal', [a, b]));
// float64 has Greater/Less/Equal kernels but not GreaterOrEqual: lower as Or(Greater, Equal),
// which keeps NaN comparisons false (Not(Less) would make NaN >= x true)
export const greaterEqualP = compare('greaterEqual', (c, a, b) => c.op('Or', [c.op('Greater', [a, b]), c.op('Equal', [a, b])]));
export const lessEqualP = compare('lessEqual', (c, a, b) => c.op('Or', [c.op('Less', [a, b]), c.op('Equal', [a, b])]));

export const logicalP: Primitive<{ op: 'and' | 'or' | 'not' }> = definePrimitive<{ op: 'and' | 'or' | 'not' }>({
  name: 'logical',
  nondifferentiable: true,
  shape: (xs, p) => {
    for (const x of xs) if (x.dtype !== 'bool') throw new DTypeError(`logical ${p.op}: needs bool inputs, got ${x.dtype}`);
    return [outAval(`logical ${p.op}`, xs, 'bool')];
  },
  lower: (ctx, xs, p) => [ctx.op(p.op === 'and' ? 'And' : p.op === 'or' ? 'Or' : 'Not', xs)],
  batch: (xs, ds, p) => broadcastBatch(logicalP)(xs, ds, p),
});

// ---- where (select) --------------------------------------------------------------------------
export const whereP: Primitive = definePrimitive({
  name: 'where',
  shape: ([c, a, b]) => {
    if (c!.dtype !== 'bool') throw new DTypeError(`where: condition must be bool, got ${c!.dtype}`);
    const d = sameDType('where', [a!, b!]);
    const s = broadcastShapes('where', broadcastShapes('where', c!.shape, a!.shape), b!.shape);
    return [{ shape: s, dtype: d }];
  },
  // onnxruntime has no bool Where kernel: select booleans with And/Or
  lower: (ctx, [c, a, b], _p, info) =>
    info.outAvals[0]!.dtype === 'bool'
      ? [ctx.op('Or', [ctx.op('And', [c!, a!]), ctx.op('And', [ctx.op('Not', [c!]), b!])])]
      : [ctx.op('Where', [c!, a!, b!])],
  jvp: ([c, a, b], [, da, db]) => {
    const out = where(c!, a!, b!);
    const s = shapeOf(out);
    if (!da && !db) return [[out], [null]];
    const z = zerosOf(s, dtypeOf(out));
    return [[out], [where(c!, da ?? z, db ?? z)]];
  },
  transpose: ([ct], [c, a, b]) => {
    if (c instanceof Undefined) throw new TransformError('where: not linear in the condition');
    if (!ct) return [null, null, null];
    const z = zerosOf(shapeOf(ct), dtypeOf(ct));
    return [
      null,
      a instanceof Undefined ? unbroadcast(where(c, ct, z), a.aval.shape) : null,
      b instanceof Undefined ? unbroadcast(where(c, z, ct), b.aval.shape) : null,
    ];
  },
  batch: (xs, ds, p) => broadcastBatch(whereP)(xs, ds, p),
});

// ---- cast --------------------------------------------------------------------------------------
export const castP = definePrimitive<{ dtype: DType }>({
  name: 'cast',
  shape: ([x], p) => [{ shape: x!.shape, dtype: p.dtype }],
  lower: (ctx, [x], p) => [ctx.op('Cast', [x!], { to: ({ float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 } as const)[p.dtype] })],
  jvp: ([x], [dx], p) => [[astype(x!, p.dtype)], [dx && isFloat(p.dtype) && isFloat(dtypeOf(x!)) ? astype(dx, p.dtype) : null]],
  transpose: ([ct], [x]) => [ct && astype(ct, (x as Undefined).aval.dtype)],
  batch: ([x], [d], p) => [[astype(x!, p.dtype)], [d!]],
});

// ---- np wrappers -------------------------------------------------------------------------------
const b2 = (p: Primitive) => (x: ArrayLike, y: ArrayLike): Value => bind1(p, lift(x, y));
export const add = b2(addP);
export const sub = b2(subP);
export const mul = b2(mulP);
export const div = b2(divP);
export const pow = b2(powP);
export const maximum = b2(maximumP);
export const minimum = b2(minimumP);
export const greater = b2(greaterP);
export const less = b2(lessP);
export const equal = b2(equalP);
export const greaterEqual = b2(greaterEqualP);
export const lessEqual = b2(lessEqualP);
export const neg = (x: Value): Value => bind1(negP, [x]);
export const exp = (x: Value): Value => bind1(expP, [x]);
export const log = (x: Value): Value => bind1(logP, [x]);
export const tanh = (x: Value): Value => bind1(tanhP, [x]);
export const sigmoid = (x: Value): Value => bind1(sigmoidP, [x]);
export const relu = (x: Value): Value => bind1(reluP, [x]);
export const sqrt = (x: Value): Value => bind1(sqrtP, [x]);
export const abs = (x: Value): Value => bind1(absP, [x]);
export const sign = (x: Value): Value => bind1(signP, [x]);
export const square = (x: Value): Value => mul(x, x);
export const logicalAnd = (a: Value, b: Value): Value => bind1(logicalP, [a, b], { op: 'and' });
export const logicalOr = (a: Value, b: Value): Value => bind1(logicalP, [a, b], { op: 'or' });
export const logicalNot = (a: Value): Value => bind1(logicalP, [a], { op: 'not' });
export function where(c: Value, a: ArrayLike, b: ArrayLike): Value {
  const [x, y] = lift(a, b);
  return bind1(whereP, [c, x!, y!]);
}
export function astype(x: Value, dtype: DType): Value {
  return dtypeOf(x) === dtype ? x : bind1(castP, [x], { dtype });
}
