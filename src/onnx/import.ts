/**
 * ONNX import: a ModelProto becomes a TypeScript function over np ops, so a model exported from
 * another framework can be traced, differentiated, jit-compiled and trained here. Float
 * initializers are exposed as a params pytree; integer ones (shapes, axes) stay constants.
 */
import { isFloat } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import { avalOf } from '../core/trace.js';
import type { TensorInfo } from './info.js';
import { decodeModel, defaultOpset, describeModel, type ModelProto, type NodeProto, tensorFromProto } from './proto.js';
import { importedOps, type OpContext } from './import-ops.js';

export interface ImportedModel {
  /** Graph inputs (initializers excluded), in the order `fn` takes them. */
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Every initializer of the model, by name. */
  readonly initializers: Readonly<Record<string, Tensor>>;
  /** The float initializers (weights): the trainable parameters `apply` takes. */
  readonly params: Readonly<Record<string, Tensor>>;
  readonly opset: number;
  /** The model as a function of its inputs, with its own weights; returns the outputs in order. */
  fn(...inputs: Value[]): Value[];
  /** The model as a function of (weights, inputs): differentiate or train with respect to `params`. */
  apply(params: Readonly<Record<string, Value>>, ...inputs: Value[]): Value[];
}

/** Decode an .onnx model and map it onto np ops. Unsupported ops are reported at once, by name. */
export function importOnnx(bytes: Uint8Array, what = 'model bytes'): ImportedModel {
  const model = decodeModel(bytes, what);
  const graph = model.graph!;
  const opset = defaultOpset(model);
  checkSupported(model, what);
  const { inputs, outputs } = describeModel(model, what);
  const initializers: Record<string, Tensor> = {};
  for (const t of graph.initializer ?? []) initializers[t.name ?? ''] = tensorFromProto(t, what);
  const params = Object.fromEntries(Object.entries(initializers).filter(([, t]) => isFloat(t.dtype)));
  const nodes = (graph.node ?? []) as NodeProto[];

  const apply = (weights: Readonly<Record<string, Value>>, ...xs: Value[]): Value[] => {
    if (xs.length !== inputs.length) {
      throw new OnnxError(`${what} takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}), got ${xs.length}`);
    }
    const env = new Map<string, Value>(Object.entries(initializers));
    for (const [k, v] of Object.entries(weights)) {
      if (!(k in params)) throw new OnnxError(`${what}: no weight named ${k}; the weights are ${Object.keys(params).join(', ')}`);
      env.set(k, v);
    }
    inputs.forEach((info, i) => env.set(info.name, checkInput(info, xs[i]!, what)));
    for (const node of nodes) runNode(node, env, opset, what);
    return outputs.map((o) => {
      const v = env.get(o.name);
      if (!v) throw new OnnxError(`${what}: output ${o.name} is not computed by any node`);
      return v;
    });
  };
  return { inputs, outputs, initializers, params, opset, fn: (...xs) => apply({}, ...xs), apply };
}

function checkSupported(model: ModelProto, what: string): void {
  const bad = new Set<string>();
  for (const n of model.graph!.node ?? []) {
    const domain = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : '';
    if (domain || !importedOps[n.opType!]) bad.add(`${domain}${n.opType}`);
  }
  if (bad.size) {
    throw new OnnxError(
      `${what}: ONNX op${bad.size > 1 ? 's' : ''} ${[...bad].join(', ')} ${bad.size > 1 ? 'have' : 'has'} no mapping to np ops. ` +
        `Supported: ${Object.keys(importedOps).sort().join(', ')}. Re-export the model without ${bad.size > 1 ? 'them' : 'it'}, or add a mapping in src/backend/import-ops.ts.`,
    );
  }
}

function checkInput(info: TensorInfo, x: Value, what: string): Value {
  const a = avalOf(x);
  const ok = a.dtype === info.dtype && a.shape.length === info.shape.length && info.shape.every((d, i) => d === null || d === a.shape[i]);
  if (!ok) {
    const want = `${info.dtype}[${info.shape.map((d) => d ?? '?').join(', ')}]`;
    throw new OnnxError(`${what}: input ${info.name} must be ${want}, got ${a.dtype}[${a.shape.join(', ')}]`);
  }
  return x;
}

function runNode(node: NodeProto, env: Map<string, Value>, opset: number, what: string): void {
  const inputs = (node.input ?? []).map((n) => {
    if (!n) return undefined;
    const v = env.get(n);
    if (!v) throw new OnnxError(`${what}: node ${node.name || node.opType} reads ${n}, which is not defined before it`);
    return v;
  });
  const ctx: OpContext = { node, inputs, opset, what, label: `${node.opType}${node.name ? ` (${node.name})` : ''}` };
  let outs: Value[];
  try {
    outs = importedOps[node.opType!]!(ctx);
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    throw new OnnxError(`${what}: importing ${ctx.label} failed: ${(e as Error).message}`);
  }
  (node.output ?? []).forEach((n, i) => {
    if (n && outs[i] !== undefined) env.set(n, outs[i]!);
  });
}
