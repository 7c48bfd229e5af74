/**
 * The tutorial's models as {init, apply}: params and state are pytrees, apply is pure and traceable.
 *   mlp:  Flatten → Linear(784, 100) → DEQ(tanh cell) → Linear(100, 10)
 *   conv: Conv(1→48) → BatchNorm → DEQ(ResNetLayer(48, 64)) → BatchNorm → AvgPool → Linear → 10
 */
import { InputError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Rng } from '../core/random.js';
import { initResNetCell, initTanhCell, resNetCell, type ResNetCellParams, tanhCell, type TanhCellParams } from './cells.js';
import { deqLayer } from './deq.js';
import type { FixedPointOptions, SolveStats } from '../solvers/index.js';
import {
  type AffineParams, avgPool, batchNorm, type BatchNormState, conv2d, type Conv2dParams, flatten, initAffine,
  initBatchNormState, initConv2d, initLinear, linear, type LinearParams,
} from './layers.js';

export interface ModelOutput {
  logits: Value;
  state: unknown;
  /** Forward-solve statistics of the DEQ layer (null when the layer is explicit). */
  stats: SolveStats | null;
  /** The DEQ layer's fixed point with its cell and the cell's other arguments (absent for an explicit layer), for terms such as `jacobianPenalty`. */
  equilibrium?: Equilibrium;
}

export interface Equilibrium {
  cell: (z: Value, ...args: any[]) => Value;
  zStar: Value;
  args: unknown[];
}

export interface Model<P = any, S = any> {
  readonly name: string;
  readonly deq: FixedPointOptions | false;
  init(rng: Rng): { params: P; state: S };
  apply(params: P, state: S, x: Value, opts: { train: boolean }): ModelOutput;
  /** The DEQ layer's cell, its injected input and its params for input x (eval mode), for solver diagnostics. */
  deqParts?(params: P, state: S, x: Value): DeqParts;
}

export interface DeqParts {
  cell: (z: Value, x: Value, params: any) => Value;
  input: Value;
  cellParams: unknown;
  /** Where the solve starts (default: zeros shaped like the input). */
  z0?: Value;
}

export interface MlpConfig {
  inFeatures?: number;
  hidden?: number;
  classes?: number;
  /** Solver options, or false for a plain tanh layer in place of the DEQ. */
  deq: FixedPointOptions | false;
}

export interface MlpParams<T = Value> {
  enc: LinearParams<T>;
  cell: TanhCellParams<T>;
  dec: LinearParams<T>;
}

export function mlpModel(config: MlpConfig, name = 'mlp'): Model<MlpParams, Record<string, never>> {
  const inF = config.inFeatures ?? 784;
  const hidden = config.hidden ?? 100;
  const classes = config.classes ?? 10;
  return {
    name,
    deq: config.deq,
    init: (rng) => ({
      params: { enc: initLinear(rng, inF, hidden), cell: initTanhCell(rng, hidden), dec: initLinear(rng, hidden, classes) } as MlpParams,
      state: {},
    }),
    deqParts: (p, _s, x) => ({ cell: tanhCell, input: linear(p.enc, flatten(x)), cellParams: p.cell }),
    apply: (p, state, x) => {
      const h = linear(p.enc, flatten(x));
      const { value, stats } = deqLayer(tanhCell, h, p.cell, config.deq);
      const equilibrium = config.deq === false ? {} : { equilibrium: { cell: tanhCell, zStar: value, args: [h, p.cell] } };
      return { logits: linear(p.dec, value), state, stats, ...equilibrium };
    },
  };
}

export interface ConvConfig {
  inChannels?: number;
  imageSize?: number;
  channels?: number;
  innerChannels?: number;
  groups?: number;
  classes?: number;
  deq: FixedPointOptions | false;
}

export interface ConvParams<T = Value> {
  stem: Conv2dParams<T>;
  bn1: AffineParams<T>;
  cell: ResNetCellParams<T>;
  bn2: AffineParams<T>;
  head: LinearParams<T>;
}
export interface ConvState<T = Value> { bn1: BatchNormState<T>; bn2: BatchNormState<T> }

/** The tutorial's CIFAR model, sized for any square input whose side divides by 4 (MNIST: pool 7 → 4×4). */
export function convModel(config: ConvConfig): Model<ConvParams, ConvState> {
  const inC = config.inChannels ?? 1;
  const size = config.imageSize ?? 28;
  const chan = config.channels ?? 48;
  const inner = config.innerChannels ?? 64;
  const groups = config.groups ?? 8;
  const classes = config.classes ?? 10;
  if (size % 4 !== 0) throw new InputError(`convModel: image size ${size} must divide by 4 (pooling to 4×4); crop or pad the images`);
  const pool = size / 4;
  const cell = (z: Value, x: Value, p: ResNetCellParams) => resNetCell(z, x, p, { groups });
  return {
    name: 'conv',
    deq: config.deq,
    init: (rng) => ({
      params: {
        stem: initConv2d(rng, inC, chan, { kernel: 3, bias: true }),
        bn1: initAffine(chan),
        cell: initResNetCell(rng, { channels: chan, innerChannels: inner }),
        bn2: initAffine(chan),
        head: initLinear(rng, chan * 16, classes),
      } as ConvParams,
      state: { bn1: initBatchNormState(chan), bn2: initBatchNormState(chan) } as ConvState,
    }),
    deqParts: (p, s, x) => ({ cell, input: batchNorm(p.bn1, s.bn1, conv2d(p.stem, x), { train: false }).y, cellParams: p.cell }),
    apply: (p, s, x, { train }) => {
      const a = batchNorm(p.bn1, s.bn1, conv2d(p.stem, x), { train });
      const { value, stats } = deqLayer(cell, a.y, p.cell, config.deq);
      const b = batchNorm(p.bn2, s.bn2, value, { train });
      const logits = linear(p.head, flatten(avgPool(b.y, pool)));
      const equilibrium = config.deq === false ? {} : { equilibrium: { cell, zStar: value, args: [a.y, p.cell] } };
      return { logits, state: { bn1: a.state, bn2: b.state }, stats, ...equilibrium };
    },
  };
}

export type ModelName = 'mlp' | 'mlp-newton' | 'conv';
export const modelNames: readonly ModelName[] = ['mlp', 'mlp-newton', 'conv'];

/** Solver settings per model (the CLI overrides them with its flags). */
export const deqPresets: Record<ModelName, FixedPointOptions> = {
  mlp: { solver: 'anderson', tol: 1e-4, maxIter: 50, backward: 'implicit' },
  // the backward linear system solved densely too, as the tutorial's layer does (one Newton step)
  'mlp-newton': { solver: 'newton', tol: 1e-4, maxIter: 40, backward: 'implicit', backwardSolver: 'newton' },
  conv: { solver: 'anderson', tol: 1e-2, maxIter: 25, backward: 'implicit' },
};

export function makeModel(name: ModelName, deq: FixedPointOptions | false = {}, data: { channels: number; size: number } = { channels: 1, size: 28 }): Model {
  const opts = deq === false ? false : { ...deqPresets[name], ...stripUndefined(deq) };
  switch (name) {
    case 'mlp':
    case 'mlp-newton':
      return mlpModel({ deq: opts, inFeatures: data.channels * data.size * data.size }, name);
    case 'conv':
      return convModel({ deq: opts, inChannels: data.channels, imageSize: data.size });
  }
}

/** `o` without its undefined entries, so that spreading it keeps the defaults it leaves unset. */
export const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

