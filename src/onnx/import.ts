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
import { decodeModel, defaultOpset, describeModel, fitsInfo, fmtInfoType, type ModelProto, type NodeProto, tensorFromProto } from './proto.js';
import { inputsAt, onnxOps, runNode, specOf } from './import-ops.js';

export interface ImportedModel {
  /** Graph inputs (initializers excluded), in the order `fn` takes them. */
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Every initializer of the model, by name. */
  readonly initializers: Readonly<Record<string, Tensor>>;
  /**
   * The float initializers (weights), by ONNX name and in the initializer's own layout: the
   * trainable parameters `apply` takes and gradients come back for. Float initializers that only
   * feed inputs which must be known at import (a Dropout ratio, Range bounds) are constants, not params.
   */
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
  if (graph.sparseInitializer?.length) {
    throw new OnnxError(`${what}: sparse initializers (${graph.sparseInitializer.map((s) => s.values?.name).join(', ')}) are not imported; save them dense, or run the model with loadOnnx`);
  }
  const { inputs, outputs } = describeModel(model, what);
  const initializers: Record<string, Tensor> = {};
  for (const t of graph.initializer ?? []) initializers[t.name ?? ''] = tensorFromProto(t, what);
  const nodes = (graph.node ?? []) as NodeProto[];
  const constantUse = hostOnlyInitializers(nodes, opset, initializers);
  const params = Object.fromEntries(Object.entries(initializers).filter(([k, t]) => isFloat(t.dtype) && !constantUse.has(k)));
  const weights = new Set<Tensor>(Object.values(params));

  const apply = (given: Readonly<Record<string, Value>>, ...xs: Value[]): Value[] => {
    if (xs.length !== inputs.length) {
      throw new OnnxError(`${what} takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}), got ${xs.length}`);
    }
    const env = new Map<string, Value>(Object.entries(initializers));
    const replaced = new Set<Value>(weights);
    for (const [k, v] of Object.entries(given)) {
      if (!(k in params)) throw new OnnxError(`${what}: no weight named ${k}; the weights are ${Object.keys(params).join(', ')}`);
      env.set(k, v);
      replaced.add(v);
    }
    // host tensors other than weights are constants: shape computations on them fold at import
    const isHost = (v: Value): v is Tensor => v instanceof Tensor && !replaced.has(v);
    inputs.forEach((info, i) => env.set(info.name, checkInput(info, xs[i]!, what)));
    // decodeModel's graph check guarantees every input is defined before it is read, and every output computed
    for (const node of nodes) {
      const ins = (node.input ?? []).map((n) => (n ? env.get(n)! : undefined));
      const outs = runNode(node, ins, opset, what, isHost);
      (node.output ?? []).forEach((n, i) => {
        if (n) env.set(n, outs[i]!);
      });
    }
    return outputs.map((o) => checkOutput(o, env.get(o.name)!, what));
  };
  return { inputs, outputs, initializers, params, opset, fn: (...xs) => apply({}, ...xs), apply };
}

/** Initializers every use of which is an input that must be known at import (never a weight). */
function hostOnlyInitializers(nodes: readonly NodeProto[], opset: number, initializers: Readonly<Record<string, Tensor>>): Set<string> {
  const hostUse = new Set<string>();
  const otherUse = new Set<string>();
  for (const node of nodes) {
    const decls = inputsAt(specOf(node)!, opset);
    (node.input ?? []).forEach((n, i) => {
      if (!n || !(n in initializers)) return;
      (decls[Math.min(i, decls.length - 1)]?.host ? hostUse : otherUse).add(n);
    });
  }
  return new Set([...hostUse].filter((n) => !otherUse.has(n)));
}

function checkSupported(model: ModelProto, what: string): void {
  const bad = new Set<string>();
  for (const n of model.graph!.node ?? []) {
    const domain = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : '';
    if (domain || !specOf(n)) bad.add(`${domain}${n.opType}`);
  }
  if (bad.size) {
    throw new OnnxError(
      `${what}: ONNX op${bad.size > 1 ? 's' : ''} ${[...bad].join(', ')} ${bad.size > 1 ? 'have' : 'has'} no mapping to np ops. ` +
        `Supported: ${[...onnxOps.keys()].sort().join(', ')} (docs/onnx-ops.md). Re-export the model without ${bad.size > 1 ? 'them' : 'it'}, or add a mapping in src/onnx/ops/.`,
    );
  }
}

function checkInput(info: TensorInfo, x: Value, what: string): Value {
  const a = avalOf(x);
  if (!fitsInfo(info, a.dtype, a.shape)) throw new OnnxError(`${what}: input ${info.name} must be ${fmtInfoType(info)}, got ${a.dtype}[${a.shape.join(', ')}]`);
  return x;
}

/** A computed graph output must be what the model declares: its dtype, and its static dims. */
function checkOutput(info: TensorInfo, v: Value, what: string): Value {
  const a = avalOf(v);
  if (!fitsInfo(info, a.dtype, a.shape)) {
    throw new OnnxError(`${what}: output ${info.name} is computed as ${a.dtype}[${a.shape.join(', ')}] but the model declares ${fmtInfoType(info)}`);
  }
  return v;
}
