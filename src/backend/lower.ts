/** IR → ONNX ModelProto (with onnx-proto). Constants become initializers; sub-graphs become Loop bodies. */
import onnxProto from 'onnx-proto';
import { onnxDType } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import { type Atom, type Aval, type Graph, Lit, Var } from '../core/ir.js';
import { type AttrValue, type LowerCtx, ruleOf } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';

const { onnx } = onnxProto;

export const OPSET = 18;
export const IR_VERSION = 8;
/** Version of the non-standard operator domains used (com.microsoft: onnxruntime's contrib operators). */
export const CONTRIB_OPSET = 1;

type NodeObj = Record<string, unknown>;

function tensorProto(name: string, t: Tensor): Record<string, unknown> {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.shape], dataType: onnxDType[t.dtype], rawData: new Uint8Array(bytes) };
}

export function valueInfo(name: string, a: Aval): Record<string, unknown> {
  return {
    name,
    type: { tensorType: { elemType: onnxDType[a.dtype], shape: { dim: a.shape.map((d) => ({ dimValue: d })) } } },
  };
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats };
  if ('graph' in v) return { name, type: A.GRAPH, g: v.graph };
  if ('tensor' in v) return { name, type: A.TENSOR, t: tensorProto(name, v.tensor) };
  throw new OnnxError(`attribute ${name}: unsupported value`);
}

/** Shared state of one model being lowered: names and initializers are unique model-wide. */
class ModelState {
  initializers: Record<string, unknown>[] = [];
  /** Operator domains other than the standard one that nodes use (they need opset imports). */
  domains = new Set<string>();
  private counter = 0;
  private intsCache = new Map<string, string>();
  fresh(prefix: string): string { return `${prefix}_${this.counter++}`; }
  constant(t: Tensor): string {
    const key = t.size <= 16 ? `${t.dtype}:${t.shape}:${t.toArray()}` : undefined;
    if (key && this.intsCache.has(key)) return this.intsCache.get(key)!;
    const name = this.fresh('const');
    this.initializers.push(tensorProto(name, t));
    if (key) this.intsCache.set(key, name);
    return name;
  }
}

class GraphLowering implements LowerCtx {
  nodes: NodeObj[] = [];
  names = new Map<Var, string>();
  constructor(readonly model: ModelState) {}

  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, nOutputs = 1, domain = ''): string[] {
    const name = this.model.fresh(opType);
    const outputs = Array.from({ length: nOutputs }, (_, i) => `${name}_out${i}`);
    if (domain) this.model.domains.add(domain);
    this.nodes.push({
      name,
      opType,
      ...(domain ? { domain } : {}),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0]!;
  }
  constant(t: Tensor): string { return this.model.constant(t); }
  ints(values: readonly number[]): string {
    const t = new Tensor('int64', [values.length]);
    values.forEach((v, i) => { (t.data as BigInt64Array)[i] = BigInt(v); });
    return this.model.constant(t);
  }
  scalar(value: number, dtype: Aval['dtype']): string {
    const t = new Tensor(dtype, []);
    if (dtype === 'int64') (t.data as BigInt64Array)[0] = BigInt(value);
    else (t.data as Float64Array)[0] = value;
    return this.model.constant(t);
  }
  atom(a: Atom): string {
    if (a instanceof Lit) return this.model.constant(a.value);
    const n = this.names.get(a);
    if (!n) throw new OnnxError(`internal: v${a.id} has no ONNX name`);
    return n;
  }
  /** Lower the equations of `g` into this graph, given names for its inputs. */
  inline(g: Graph, inputNames: string[]): string[] {
    g.inputs.forEach((v, i) => this.names.set(v, inputNames[i]!));
    for (const e of g.eqns) {
      const ins = e.inputs.map((a) => this.atom(a));
      const info = { inAvals: e.inputs.map((a) => a.aval), outAvals: e.outputs.map((v) => v.aval) };
      const lower = ruleOf(e.prim, 'lower');
      // primitives without a lowering are expanded before a graph gets here (transforms/expand.ts)
      if (!lower) throw new OnnxError(`internal: primitive ${e.prim.name} has no ONNX lowering; expand the graph before lowering it`);
      const outs = lower(this, ins, e.params, info);
      e.outputs.forEach((v, i) => this.names.set(v, outs[i]!));
    }
    return g.outputs.map((a) => this.atom(a));
  }
  fresh(prefix: string): string { return this.model.fresh(prefix); }
  subgraph(name: string, inputs: { name: string; aval: Aval | null }[], build: (sub: LowerCtx) => string[], outAvals: (Aval | null)[]): { graph: unknown } {
    const sub = new GraphLowering(this.model);
    sub.names = new Map(this.names);
    const outs = build(sub);
    // a body output must be a value its own nodes produce, once: values from outside the body
    // (inputs, outer names, constants) or repeated ones go through an Identity. Other outputs are
    // used as they are — an Identity per loop-carried value would run on every iteration.
    const produced = new Set(sub.nodes.flatMap((nd) => nd.output as string[]));
    const used = new Set<string>();
    const outputs = outs.map((n, i) => {
      let out = n;
      if (!produced.has(n) || used.has(n)) {
        out = this.model.fresh(`${name}_out`);
        sub.nodes.push({ name: this.model.fresh('Identity'), opType: 'Identity', input: [n], output: [out], attribute: [] });
      }
      used.add(out);
      const a = outAvals[i];
      return a ? valueInfo(out, a) : { name: out };
    });
    return {
      graph: {
        name,
        node: sub.nodes,
        input: inputs.map((x) => (x.aval ? valueInfo(x.name, x.aval) : { name: x.name })),
        output: outputs,
      },
    };
  }
}

export interface LowerOptions {
  inputNames?: string[];
  outputNames?: string[];
  graphName?: string;
  docString?: string;
}

/** Lower a whole graph to a ModelProto object (encode with `encodeModel`). */
export function lowerModel(g: Graph, opts: LowerOptions = {}): Record<string, unknown> {
  const model = new ModelState();
  const lw = new GraphLowering(model);
  const inputNames = g.inputs.map((_, i) => opts.inputNames?.[i] ?? `input_${i}`);
  const outs = lw.inline(g, inputNames);
  const outputNames = outs.map((_, i) => opts.outputNames?.[i] ?? `output_${i}`);
  outs.forEach((n, i) => lw.nodes.push({ name: model.fresh('Identity'), opType: 'Identity', input: [n], output: [outputNames[i]], attribute: [] }));
  const graph = {
    name: opts.graphName ?? 'deq_onnx',
    node: lw.nodes,
    input: g.inputs.map((v, i) => valueInfo(inputNames[i]!, v.aval)),
    output: g.outputs.map((a, i) => valueInfo(outputNames[i]!, a.aval)),
    initializer: model.initializers,
  };
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }, ...[...model.domains].map((domain) => ({ domain, version: CONTRIB_OPSET }))],
    producerName: 'deq-onnx',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    graph,
  };
}

export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const msg = onnx.ModelProto.fromObject(model);
  return onnx.ModelProto.encode(msg).finish();
}
