/**
 * A DEQ whose cell is an imported .onnx graph f(z, x): the injection that maps images to the
 * cell's x and the classifier head on its fixed point z* are built to fit the shapes the file
 * declares, and every float initializer of the file is a trained parameter, kept by its ONNX name
 * so that the trained values can be written back into the same file (onnx/initializers.ts).
 *
 *   x of shape [batch, C, H, W]: Conv3x3(image channels → C), at the images' H×W;
 *   x of any other shape [batch, ...]: Linear(pixels → prod(...)), reshaped;
 *   head: Linear(prod(z's shape without batch) → classes) on the flattened z*.
 */
import { isFloat, type DType } from '../core/dtype.js';
import { InputError, ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import type { Rng } from '../core/random.js';
import { sizeOf, Tensor } from '../core/tensor.js';
import { avalOf } from '../core/trace.js';
import * as np from '../np.js';
import { fixedPoint, type FixedPointOptions } from '../solvers/index.js';
import { importOnnx, type ImportedModel } from '../onnx/import.js';
import { replaceInitializers } from '../onnx/initializers.js';
import type { TensorInfo } from '../onnx/info.js';
import { fmtInfoType } from '../onnx/proto.js';
import { conv2d, type Conv2dParams, flatten, initConv2d, initLinear, linear, type LinearParams } from './layers.js';
import { deqPresets, type Model, stripUndefined } from './models.js';

/** The names of the file's inputs that are z (the state) and x (the injected input). */
export interface CellInputNames { z: string; x: string }

export interface OnnxCell {
  /** Names the file in messages. */
  readonly what: string;
  readonly imported: ImportedModel;
  readonly z: TensorInfo;
  readonly x: TensorInfo;
  readonly output: TensorInfo;
  /** How z and x were found: by their names z and x, by the names asked for, or by position. */
  readonly matchedBy: 'name' | 'choice' | 'position';
  /** f(z, x) with the given weights (by ONNX name). */
  apply(z: Value, x: Value, weights: Readonly<Record<string, Value>>): Value;
}

const listInputs = (ins: readonly TensorInfo[]) => ins.map((i) => `${i.name}: ${fmtInfoType(i)}`).join(', ');

/**
 * Import an .onnx cell and find its z and x inputs: by the names asked for; else the inputs named
 * z and x; else the first input is z and the second x. The cell must map z to z's shape.
 */
export function readOnnxCell(bytes: Uint8Array, opts: { inputs?: CellInputNames; what?: string } = {}): OnnxCell {
  const what = opts.what ?? 'the cell';
  const imported = importOnnx(bytes, what);
  const ins = imported.inputs;
  if (ins.length !== 2) {
    throw new InputError(`${what} has ${ins.length} input${ins.length === 1 ? '' : 's'} (${listInputs(ins) || 'none'}); a cell takes two, the state z and the injected input x`);
  }
  if (imported.outputs.length !== 1) {
    throw new InputError(`${what} has ${imported.outputs.length} outputs (${listInputs(imported.outputs)}); a cell returns one, the next state f(z, x)`);
  }
  let zi: number, xi: number, matchedBy: OnnxCell['matchedBy'];
  const byName = (n: string) => ins.findIndex((i) => i.name === n);
  if (opts.inputs) {
    const { z, x } = opts.inputs;
    if (z === x) throw new InputError(`${what}: z and x must be two different inputs, got ${z} for both`);
    const missing = [z, x].filter((n) => byName(n) < 0);
    if (missing.length) throw new InputError(`${what} has no input named ${missing.join(' or ')}; its inputs are ${listInputs(ins)}`);
    [zi, xi, matchedBy] = [byName(z), byName(x), 'choice'];
  } else if (byName('z') >= 0 && byName('x') >= 0) [zi, xi, matchedBy] = [byName('z'), byName('x'), 'name'];
  else [zi, xi, matchedBy] = [0, 1, 'position'];
  const z = ins[zi]!;
  const x = ins[xi]!;
  const output = imported.outputs[0]!;
  for (const [role, info] of [['z', z], ['x', x]] as const) {
    if (!isFloat(info.dtype)) throw new InputError(`${what}: its ${role} input ${info.name} is ${fmtInfoType(info)}; a cell's z and x are float tensors`);
    if (info.shape.length < 2) throw new InputError(`${what}: its ${role} input ${info.name} is ${fmtInfoType(info)}; z and x need a batch axis and at least one more`);
  }
  const sameShape = output.shape.length === z.shape.length && output.shape.every((d, i) => d === null || z.shape[i] === null || d === z.shape[i]);
  if (output.dtype !== z.dtype || !sameShape) {
    const how = matchedBy === 'position' ? '; z and x were taken by position (the first and second input): choose them by name' : '';
    throw new InputError(`${what}: its output ${output.name} is ${fmtInfoType(output)} but z (${z.name}) is ${fmtInfoType(z)}; a fixed-point cell returns a new z of z's shape and type${how}`);
  }
  const apply = (zv: Value, xv: Value, weights: Readonly<Record<string, Value>>): Value => {
    const args: Value[] = [];
    args[zi] = zv;
    args[xi] = xv;
    const out = imported.apply(weights, ...args)[0]!;
    const got = avalOf(out);
    const want = avalOf(zv);
    if (got.dtype !== want.dtype || got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
      throw new ShapeError(`${what}: f(z, x) is ${got.dtype}[${got.shape.join(', ')}] for z of ${want.dtype}[${want.shape.join(', ')}]; a fixed-point cell must return z's shape`);
    }
    return out;
  };
  return { what, imported, z, x, output, matchedBy, apply };
}

/** The shape of the images the model is trained on: [batch, channels, size, size]. */
export interface ImageShape { channels: number; size: number }

export interface CellShapes {
  /** z and x without the batch axis. */
  z: number[];
  x: number[];
}

/**
 * The sizes of z and x for these images. The batch axis must be symbolic (training and evaluation
 * run different batch sizes); for x of shape [batch, C, H, W], a symbolic H or W is the images',
 * and a fixed one must equal it; another symbolic axis takes the size of the same axis of the
 * other input. Anything that cannot fit says what it expected and what it found.
 */
export function cellShapes(cell: OnnxCell, images: ImageShape): CellShapes {
  const { what } = cell;
  const resolve = (role: 'z' | 'x', info: TensorInfo, other: TensorInfo): number[] => {
    if (info.shape[0] !== null) {
      throw new InputError(
        `${what} declares a fixed batch size of ${info.shape[0]} for ${role} (${info.name}: ${fmtInfoType(info)}); training and evaluation run other batch sizes. ` +
          `Export it with a dynamic batch axis, e.g. torch.onnx.export(..., dynamic_axes={'${info.name}': {0: 'batch'}, ...})`,
      );
    }
    return info.shape.slice(1).map((d, j) => {
      const axis = j + 1;
      const spatial = info.shape.length === 4 && axis >= 2;
      if (spatial && d !== null && d !== images.size) {
        const hw = `${info.shape[2] ?? '?'}×${info.shape[3] ?? '?'}`;
        throw new InputError(
          `${what}: ${role} (${info.name}) is ${fmtInfoType(info)}, images of ${hw}, but the data's images are ${images.size}×${images.size}` +
            ` (${images.channels} channel${images.channels === 1 ? '' : 's'}): export the cell at ${images.size}×${images.size}, or with dynamic height and width axes`,
        );
      }
      if (d !== null) return d;
      if (spatial) return images.size;
      const o = other.shape.length === info.shape.length ? other.shape[axis] : null;
      if (o !== null && o !== undefined) return o;
      throw new InputError(`${what}: axis ${axis} of ${role} (${info.name}: ${fmtInfoType(info)}) has no fixed size, and nothing tells what it should be; export the cell with that axis fixed`);
    });
  };
  return { z: resolve('z', cell.z, cell.x), x: resolve('x', cell.x, cell.z) };
}

export interface OnnxCellParams<T = Value> {
  /** Images → x: a linear map, or a 3×3 convolution for image-shaped x. */
  inj: LinearParams<T> | Conv2dParams<T>;
  /** The file's float initializers, by ONNX name. */
  cell: Record<string, T>;
  head: LinearParams<T>;
}

/** The solver settings of a cell model: the MLP's for flat cells, the conv model's for image-shaped z. */
export const cellDeqPreset = (cell: OnnxCell): FixedPointOptions => (cell.z.shape.length === 4 ? deqPresets.conv : deqPresets.mlp);

const copy = (t: Tensor) => new Tensor(t.dtype, t.shape, t.data.slice());

/**
 * images → injection → DEQ(the file's cell) → head → logits. `deq` overrides the preset's solver
 * settings; false applies the cell once from z = 0 instead of solving.
 */
export function onnxCellModel(cell: OnnxCell, deq: FixedPointOptions | false, images: ImageShape, classes = 10): Model<OnnxCellParams, Record<string, never>> {
  const shapes = cellShapes(cell, images);
  const opts = deq === false ? false : { ...cellDeqPreset(cell), ...stripUndefined(deq) };
  const convInjection = shapes.x.length === 3;
  const xDtype: DType = cell.x.dtype;
  const pixels = images.channels * images.size * images.size;
  const inject = (p: OnnxCellParams, images: Value): Value => {
    const b = np.shape(images)[0]!;
    const imgs = np.astype(images, xDtype);
    return convInjection ? conv2d(p.inj, imgs) : np.reshape(linear(p.inj, flatten(imgs)), [b, ...shapes.x]);
  };
  const f = (z: Value, x: Value, w: Record<string, Value>) => cell.apply(z, x, w);
  const z0 = (x: Value) => np.zerosOf([np.shape(x)[0]!, ...shapes.z], cell.z.dtype);
  return {
    name: 'cell',
    deq: opts,
    init: (rng: Rng) => ({
      params: {
        inj: convInjection
          ? initConv2d(rng, images.channels, shapes.x[0]!, { kernel: 3, bias: true, dtype: xDtype })
          : initLinear(rng, pixels, sizeOf(shapes.x), { dtype: xDtype }),
        cell: Object.fromEntries(Object.entries(cell.imported.params).map(([k, t]) => [k, copy(t)])),
        head: initLinear(rng, sizeOf(shapes.z), classes, { dtype: cell.z.dtype }),
      } as OnnxCellParams,
      state: {},
    }),
    deqParts: (p, _s, images) => {
      const x = inject(p, images);
      return { cell: f, input: x, cellParams: p.cell, z0: z0(x) };
    },
    apply: (p, state, images) => {
      const x = inject(p, images);
      if (opts === false) return { logits: linear(p.head, flatten(f(z0(x), x, p.cell))), state, stats: null };
      const { value, stats } = fixedPoint(f, z0(x), [x, p.cell], opts);
      return { logits: linear(p.head, flatten(value)), state, stats, equilibrium: { cell: f, zStar: value, args: [x, p.cell] } };
    },
  };
}

/**
 * The cell file `bytes` with its float initializers replaced by the trained cell params (names,
 * opset, graph, doc strings and dynamic axes kept). `trained` must hold every one of the cell's
 * weights, each with its initializer's dtype and shape. `params`: the file's weights by name, when
 * the file was imported already (readOnnxCell's `imported.params`).
 */
export function writeBackCell(bytes: Uint8Array, trained: unknown, what = 'the cell', params: Readonly<Record<string, unknown>> = importOnnx(bytes, what).params): Uint8Array {
  if (typeof trained !== 'object' || trained === null || Array.isArray(trained)) throw new InputError(`the trained weights for ${what} are not a record of tensors by initializer name`);
  const given = trained as Record<string, unknown>;
  const missing = Object.keys(params).filter((k) => !(given[k] instanceof Tensor));
  const extra = Object.keys(given).filter((k) => !(k in params));
  if (missing.length || extra.length) {
    throw new InputError(
      `the trained weights do not fit ${what}:` + (missing.length ? ` missing ${missing.join(', ')};` : '') + (extra.length ? ` not weights of the file: ${extra.join(', ')};` : '') +
        ' they come from a run on another cell file',
    );
  }
  return replaceInitializers(bytes, given as Record<string, Tensor>, what);
}
