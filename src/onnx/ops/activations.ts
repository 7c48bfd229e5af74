/** Activations: each a composite of np ops (src/ops/activations.ts), softmax-like ops with their axis rules. */
import type { Value } from '../../core/primitive.js';
import { sizeOf } from '../../core/tensor.js';
import * as np from '../../np.js';
import { type AttrDecl, type OpContext, type OpSpec, declare, shapeOf } from './declare.js';

const X = [{ name: 'X', type: 'float' as const }];

function activation(op: string, since: number, attrs: Record<string, AttrDecl>, f: (x: Value, c: OpContext) => Value, notes?: string, float64?: string): OpSpec {
  return declare({ op, family: 'activations', since, inputs: X, outputs: ['Y'], attrs, differentiable: true, notes, float64, map: (c) => [f(c.input(0), c)] });
}

/** From opset 13 one axis (default −1); before, the axes from `axis` on (default 1) flattened into one. */
function softmaxLike(op: string, f: (x: Value, axis: number) => Value): OpSpec {
  return declare({
    op,
    family: 'activations',
    since: 1,
    inputs: [{ name: 'input', type: 'float' }],
    outputs: ['output'],
    attrs: { axis: { kind: 'int', default: (opset) => (opset >= 13 ? -1 : 1), axis: 'r' } },
    differentiable: true,
    notes: 'before opset 13: over the axes from `axis` on, flattened',
    map: (c) => {
      const x = c.input(0);
      const axis = c.axis('axis');
      if (c.opset >= 13) return [f(x, axis)];
      const s = shapeOf(x);
      const flat = np.reshape(x, [sizeOf(s.slice(0, axis)), sizeOf(s.slice(axis))]);
      return [np.reshape(f(flat, -1), s)];
    },
  });
}

const alpha = (v: number): AttrDecl => ({ kind: 'float', default: v });

export const activationOps: readonly OpSpec[] = [
  activation('Relu', 6, {}, np.relu),
  activation('LeakyRelu', 6, { alpha: alpha(0.01) }, (x, c) => np.leakyRelu(x, c.float('alpha'))),
  activation('Elu', 6, { alpha: alpha(1) }, (x, c) => np.elu(x, c.float('alpha'))),
  activation('Selu', 6, { alpha: alpha(1.67326319217681884765625), gamma: alpha(1.05070102214813232421875) },
    (x, c) => np.selu(x, c.float('alpha'), c.float('gamma'))),
  activation('Celu', 12, { alpha: alpha(1) }, (x, c) => np.celu(x, c.float('alpha'))),
  activation('Gelu', 20, { approximate: { kind: 'string', default: 'none', oneOf: ['none', 'tanh'] } },
    (x, c) => np.gelu(x, c.string('approximate') === 'tanh' ? 'tanh' : 'none'),
    'exact constants (√(2/π), 0.044715) in float64', 'erf as for Erf'),
  activation('Softplus', 1, {}, np.softplus),
  activation('Softsign', 1, {}, np.softsign),
  activation('HardSigmoid', 6, { alpha: alpha(0.2), beta: alpha(0.5) }, (x, c) => np.hardSigmoid(x, c.float('alpha'), c.float('beta'))),
  activation('HardSwish', 14, {}, np.hardSwish, 'x·max(0, min(1, x/6 + 1/2)), with 1/6 exact in float64'),
  activation('Mish', 18, {}, np.mish),
  activation('Sigmoid', 6, {}, np.sigmoid),
  activation('Tanh', 6, {}, np.tanh),
  declare({
    op: 'PRelu', family: 'activations', since: 7, inputs: [...X, { name: 'slope', type: 'float' }], outputs: ['Y'], attrs: {}, differentiable: true,
    notes: 'slope broadcasts to X (unidirectionally)',
    map: (c) => {
      const [x, slope] = [c.input(0), c.input(1)];
      const scaled = np.mul(x, slope);
      if (shapeOf(scaled).join() !== shapeOf(x).join()) c.fail(`slope [${shapeOf(slope)}] must broadcast to X [${shapeOf(x)}] without growing it`);
      return [np.where(np.less(x, 0), scaled, x)];
    },
  }),
  declare({
    op: 'Clip', family: 'activations', since: 6,
    inputs: [{ name: 'input', type: 'numeric' }, { name: 'min', type: 'numeric', optional: true, opsets: [11] }, { name: 'max', type: 'numeric', optional: true, opsets: [11] }],
    outputs: ['output'],
    attrs: {
      min: { kind: 'float', default: -3.4028234663852886e38, opsets: [6, 10] },
      max: { kind: 'float', default: 3.4028234663852886e38, opsets: [6, 10] },
    },
    differentiable: true,
    notes: 'min > max gives max everywhere (as ONNX says); at a bound the derivative goes to the input',
    map: (c) => {
      const x = c.input(0);
      if (c.opset < 11) return [np.clip(x, c.float('min'), c.float('max'))];
      for (const i of [1, 2]) {
        const b = c.optionalInput(i);
        if (b && shapeOf(b).length !== 0) c.fail(`input ${i} (${i === 1 ? 'min' : 'max'}) must be a scalar, got shape [${shapeOf(b)}]`);
      }
      return [np.clip(x, c.optionalInput(1), c.optionalInput(2))];
    },
  }),
  softmaxLike('Softmax', np.softmax),
  softmaxLike('LogSoftmax', np.logSoftmax),
];
