/**
 * Elementwise maths: arithmetic, unary functions, variadic Sum/Mean/Max/Min, comparisons and
 * logic. Each folds on the host when every input is a host value (integer shape arithmetic), and
 * maps onto np ops otherwise.
 */
import { dtypeFromOnnx, isFloat } from '../../core/dtype.js';
import type { Value } from '../../core/primitive.js';
import * as np from '../../np.js';
import { type AttrDecl, type InputDecl, type OpContext, type OpSpec, declare, dtypeOf } from './declare.js';
import { hostCast, hostElementwise } from './host.js';

type Binary = (a: Value, b: Value) => Value;
const X: InputDecl = { name: 'X', type: 'float' };
const A_B = (type: InputDecl['type']): InputDecl[] => [{ name: 'A', type }, { name: 'B', type }];

/** A broadcasting binary op: host arithmetic on host inputs, an np op otherwise. */
function binary(op: string, traced: Binary, host: (a: number, b: number) => number, opts: { type?: InputDecl['type']; bool?: boolean; notes?: string; differentiable?: boolean } = {}): OpSpec {
  return declare({
    op,
    family: 'maths',
    since: 7,
    inputs: A_B(opts.type ?? 'numeric'),
    outputs: ['C'],
    attrs: {},
    differentiable: opts.differentiable ?? !opts.bool,
    notes: opts.notes,
    map: (c) => {
      const [a, b] = [c.input(0), c.input(1)];
      const h = c.foldedRest();
      if (h) return [hostElementwise(op, h, host, opts.bool ? 'bool' : dtypeOf(a))];
      return [traced(a, b)];
    },
  });
}

/** A unary op on floats (Abs and Neg take integers too, folded on the host). */
function unary(op: string, traced: (x: Value) => Value, host: ((v: number) => number) | undefined, type: InputDecl['type'] = 'float', notes?: string, float64?: string): OpSpec {
  return declare({
    op,
    family: 'maths',
    since: 6,
    inputs: [{ ...X, type }],
    outputs: ['Y'],
    attrs: {},
    differentiable: true,
    notes,
    float64,
    map: (c) => {
      const x = c.input(0);
      const h = host && c.foldedRest();
      if (h) return [hostElementwise(op, h, host)];
      return [traced(x)];
    },
  });
}

/** Sum, Mean, Max, Min: any number of inputs, broadcast together. */
function variadic(op: string, pair: Binary, host: (a: number, b: number) => number, finish?: (x: Value, n: number) => Value): OpSpec {
  return declare({
    op,
    family: 'maths',
    since: 8,
    inputs: [{ name: 'data', type: op === 'Mean' ? 'float' : 'numeric', variadic: true }],
    outputs: [op.toLowerCase()],
    attrs: {},
    differentiable: true,
    notes: op === 'Max' || op === 'Min' ? 'ties pass the derivative to the first of the tied inputs' : undefined,
    map: (c) => {
      const xs = c.rest();
      if (xs.length === 0) c.fail('needs at least one input');
      const h = !finish && c.foldedRest();
      if (h) return [hostElementwise(op, h, (...v) => v.reduce((a, b) => host(a, b)))];
      const out = xs.reduce((a, b) => pair(a, b));
      return [finish ? finish(out, xs.length) : out];
    },
  });
}

/** Mod: fmod = 0 takes the divisor's sign (integers only), fmod = 1 the dividend's. */
function mod(c: OpContext): Value[] {
  const fmod = c.int('fmod');
  if (fmod === 0 && isFloat(dtypeOf(c.input(0)))) c.fail('fmod = 0 is defined for integer inputs only; float inputs need fmod = 1');
  const h = c.foldedRest();
  if (!h) c.fail('Mod is imported for values known at import only (shape arithmetic)');
  const f = fmod ? (x: number, y: number) => x % y : (x: number, y: number) => ((x % y) + y) % y;
  return [hostElementwise('Mod', h, f)];
}

function cast(c: OpContext, to: ReturnType<typeof dtypeFromOnnx>): Value[] {
  if (!to) c.fail(`casts to ONNX type ${c.has('to') ? c.int('to') : '?'}, which has no tensor here (float32, float64, int32, int64, bool)`);
  const h = c.folded()?.[0];
  if (h) return [hostCast(h, to)];
  return [np.astype(c.input(0), to)];
}

const logical = (op: string, traced: Binary, host: (a: number, b: number) => number): OpSpec =>
  binary(op, traced, host, { type: 'bool', bool: true, differentiable: false });

const saturate: AttrDecl = { kind: 'int', default: 1, opsets: [19], oneOf: [0, 1], doc: 'only affects float8 targets, which have no tensor here' };

export const mathOps: readonly OpSpec[] = [
  binary('Add', np.add, (a, b) => a + b),
  binary('Sub', np.sub, (a, b) => a - b),
  binary('Mul', np.mul, (a, b) => a * b),
  binary('Div', np.div, (a, b) => a / b, { notes: 'integer division (host values) truncates toward zero' }),
  declare({
    op: 'Pow', family: 'maths', since: 7, inputs: [{ name: 'X', type: 'numeric' }, { name: 'Y', type: 'numeric' }], outputs: ['Z'], attrs: {},
    differentiable: true,
    notes: 'an exponent of another type is cast to the base\'s type',
    map: (c) => {
      const x = c.input(0);
      let y = c.input(1);
      const h = c.foldedRest();
      if (h) return [hostElementwise('Pow', h, Math.pow, dtypeOf(x))];
      // ONNX lets the exponent have its own type; np.pow wants one dtype
      if (dtypeOf(y) !== dtypeOf(x)) y = c.isHost(y) ? hostCast(y, dtypeOf(x)) : np.astype(y, dtypeOf(x));
      return [np.pow(x, y)];
    },
  }),
  declare({
    op: 'Mod', family: 'maths', since: 10, inputs: A_B('numeric'), outputs: ['C'], differentiable: false,
    attrs: { fmod: { kind: 'int', default: 0, oneOf: [0, 1] } },
    notes: 'host values only (shape arithmetic)',
    map: mod,
  }),
  unary('Abs', np.abs, Math.abs, 'numeric'),
  unary('Neg', np.neg, (v) => -v, 'numeric'),
  unary('Sign', np.sign, Math.sign, 'numeric', 'derivative zero'),
  unary('Exp', np.exp, undefined),
  unary('Log', np.log, undefined),
  unary('Sqrt', np.sqrt, undefined),
  unary('Reciprocal', (x) => np.div(1, x), undefined),
  unary('Erf', np.erf, undefined, 'float', undefined, 'piecewise polynomials fitted by scripts/fit-erf.py, 2.2e-16 relative error (onnxruntime has no float64 Erf)'),
  variadic('Sum', np.add, (a, b) => a + b),
  variadic('Mean', np.add, (a, b) => a + b, (x, n) => np.div(x, n)),
  variadic('Max', np.maximum, Math.max),
  variadic('Min', np.minimum, Math.min),
  binary('Equal', np.equal, (a, b) => +(a === b), { type: 'any', bool: true }),
  binary('Less', np.less, (a, b) => +(a < b), { bool: true }),
  binary('Greater', np.greater, (a, b) => +(a > b), { bool: true }),
  binary('LessOrEqual', np.lessEqual, (a, b) => +(a <= b), { bool: true }),
  binary('GreaterOrEqual', np.greaterEqual, (a, b) => +(a >= b), { bool: true }),
  logical('And', np.logicalAnd, (a, b) => +(a && b)),
  logical('Or', np.logicalOr, (a, b) => +(a || b)),
  logical('Xor', (a, b) => np.logicalAnd(np.logicalOr(a, b), np.logicalNot(np.logicalAnd(a, b))), (a, b) => +(!!a !== !!b)),
  declare({
    op: 'Not', family: 'maths', since: 1, inputs: [{ name: 'X', type: 'bool' }], outputs: ['Y'], attrs: {}, differentiable: false,
    map: (c) => {
      const h = c.foldedRest();
      return [h ? hostElementwise('Not', h, (v) => +!v, 'bool') : np.logicalNot(c.input(0))];
    },
  }),
  declare({
    op: 'Cast', family: 'maths', since: 6, inputs: [{ name: 'input', type: 'any' }], outputs: ['output'], differentiable: true,
    attrs: { to: { kind: 'int', required: true, doc: 'an ONNX data type: 1 float32, 6 int32, 7 int64, 9 bool, 11 float64' }, saturate },
    notes: 'float → integer truncates toward zero; derivatives flow between float types only',
    map: (c) => {
      c.int('saturate');
      return cast(c, dtypeFromOnnx(c.int('to')));
    },
  }),
  declare({
    op: 'CastLike', family: 'maths', since: 15, inputs: [{ name: 'input', type: 'any' }, { name: 'target_type', type: 'any', typeOnly: true }], outputs: ['output'],
    attrs: { saturate }, differentiable: true,
    map: (c) => {
      c.int('saturate');
      return cast(c, dtypeOf(c.input(1)));
    },
  }),
];
