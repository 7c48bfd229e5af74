/** Every ONNX op the import maps, by op type (the declarations docs/onnx-ops.md is generated from). */
import { activationOps } from './activations.js';
import { convOps } from './conv.js';
import type { OpSpec } from './declare.js';
import { indexingOps } from './indexing.js';
import { mathOps } from './math.js';
import { normalizationOps } from './normalization.js';
import { reduceOps } from './reduce.js';
import { shapeOps } from './shape.js';

const all: readonly OpSpec[] = [...normalizationOps, ...convOps, ...activationOps, ...shapeOps, ...indexingOps, ...reduceOps, ...mathOps];

export const onnxOps: ReadonlyMap<string, OpSpec> = new Map(all.map((s) => [s.op, s]));
if (onnxOps.size !== all.length) throw new Error('internal: an ONNX op is declared twice');
