/**
 * A symbolic batch axis for exported graphs, as PyTorch's `dynamic_axes` and JAX's shape-polymorphic
 * export give. The IR has concrete shapes, so the function is lowered at several batch sizes (large
 * primes, so that no other number of the graph coincides with them) and the lowered models are
 * compared: they must have the same nodes, and every number that differs between them — a shape
 * given to Reshape or Expand, a Slice bound, a 1/B of a mean over the batch — must be a simple
 * function of the batch size. Those numbers are then computed at run time from the batch input's
 * `Shape`, and the batch dimension of every declared shape becomes the symbol `batch`. A number
 * that follows no such rule is an error naming the node that reads it.
 */
import onnxProto from 'onnx-proto';
import { OnnxError } from '../core/errors.js';
import { onnxDType } from '../core/dtype.js';

const { onnx } = onnxProto;

/**
 * Batch sizes the function is lowered at: primes, small and large so that a rule fitted on them
 * holds from batch 1 up (a float32 constant at batch 1000 has too few digits to extrapolate from).
 * If one of them happens to equal a size the model uses, the lowered graphs differ in structure and
 * the next set is tried.
 */
export const PROBE_SETS: readonly (readonly number[])[] = [[1009, 13, 17, 23], [1013, 29, 31, 37], [1019, 41, 43, 47]];

/** The graphs differ in structure at the probe batches (not a rule the numbers break). */
export class ProbeCollision extends OnnxError {}

/** A plain ModelProto object as the backend's lowerModel builds it. */
export type ModelObject = Record<string, unknown>;
type Obj = Record<string, any>;

/** A number as a function of the batch size B. */
type Rule =
  | { kind: 'const'; c: number }
  | { kind: 'affine'; a: number; b: number } // aB + b
  | { kind: 'reciprocal'; a: number; b: number } // a/B + b
  | { kind: 'ratio'; p: number; q: number; s: number }; // (pB + q)/(B + s)

const close = (x: number, y: number, tol: number) => Math.abs(x - y) <= tol * Math.max(1, Math.abs(x), Math.abs(y));

/** The rule that reproduces `vs` at the probe batches, or null (integers must fit exactly). */
function fitRule(B: readonly number[], vs: readonly number[], integer: boolean): Rule | null {
  if (vs.every((v) => v === vs[0])) return { kind: 'const', c: vs[0]! };
  const tol = integer ? 0 : 1e-6;
  const holds = (f: (b: number) => number) => vs.every((v, i) => close(v, f(B[i]!), tol));
  const a = (vs[1]! - vs[0]!) / (B[1]! - B[0]!);
  const b = vs[0]! - a * B[0]!;
  if ((!integer || (Number.isInteger(a) && Number.isInteger(b))) && holds((x) => a * x + b)) return { kind: 'affine', a, b };
  if (integer) return null;
  const ra = (vs[1]! - vs[0]!) / (1 / B[1]! - 1 / B[0]!);
  const rb = vs[0]! - ra / B[0]!;
  if (holds((x) => ra / x + rb)) return { kind: 'reciprocal', a: ra, b: rb };
  // (pB + q)/(B + s) = v  ⇔  v·s − p·B − q = −v·B: three points fix (s, p, q), the fourth checks
  const rows = [0, 1, 2].map((i) => [vs[i]!, -B[i]!, -1, -vs[i]! * B[i]!]);
  const sol = solve3(rows);
  if (sol) {
    const [s, p, q] = sol;
    if (holds((x) => (p * x + q) / (x + s))) return { kind: 'ratio', p, q, s };
  }
  return null;
}

/** Solve a 3×3 system given as rows [a, b, c, rhs] (Cramer's rule); null when singular. */
function solve3(r: number[][]): [number, number, number] | null {
  const det = (m: number[][]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const A = r.map((row) => row.slice(0, 3));
  const d = det(A);
  if (Math.abs(d) < 1e-300) return null;
  const col = (k: number) => det(A.map((row, i) => row.map((v, j) => (j === k ? r[i]![3]! : v))));
  return [col(0) / d, col(1) / d, col(2) / d];
}

/** Values of an initializer as numbers (raw little-endian data, as the backend writes it). */
function initValues(t: Obj): number[] {
  const raw: Uint8Array = t.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  switch (t.dataType) {
    case onnxDType.float32: for (let i = 0; i < raw.length; i += 4) out.push(view.getFloat32(i, true)); break;
    case onnxDType.float64: for (let i = 0; i < raw.length; i += 8) out.push(view.getFloat64(i, true)); break;
    case onnxDType.int64: for (let i = 0; i < raw.length; i += 8) out.push(Number(view.getBigInt64(i, true))); break;
    case onnxDType.int32: for (let i = 0; i < raw.length; i += 4) out.push(view.getInt32(i, true)); break;
    default: for (let i = 0; i < raw.length; i++) out.push(raw[i]!);
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Builds the run-time computations that replace batch-dependent initializers. */
class BatchMath {
  readonly nodes: Obj[] = [];
  readonly constants: Obj[] = [];
  private n = 0;
  private batch1d?: string;
  private batchFloat = new Map<number, string>();
  constructor(private readonly input: string, private readonly axis: number) {}

  private fresh(p: string) { return `batch_${p}_${this.n++}`; }
  private node(opType: string, inputs: string[], attrs: Obj[] = [], output = this.fresh(opType)): string {
    this.nodes.push({ name: this.fresh(`${opType}_node`), opType, input: inputs, output: [output], attribute: attrs });
    return output;
  }
  private constant(values: number[], dataType: number, dims: number[]): string {
    const name = this.fresh('const');
    const bytes = new Uint8Array(values.length * (dataType === onnxDType.float32 || dataType === onnxDType.int32 ? 4 : 8));
    const v = new DataView(bytes.buffer);
    values.forEach((x, i) => {
      if (dataType === onnxDType.float32) v.setFloat32(i * 4, x, true);
      else if (dataType === onnxDType.float64) v.setFloat64(i * 8, x, true);
      else if (dataType === onnxDType.int32) v.setInt32(i * 4, x, true);
      else v.setBigInt64(i * 8, BigInt(x), true);
    });
    this.constants.push({ name, dims, dataType, rawData: bytes });
    return name;
  }
  /** The batch size as int64 [1], read from the batch input's shape. */
  private batch(): string {
    if (!this.batch1d) {
      const A = onnx.AttributeProto.AttributeType;
      this.batch1d = this.node('Shape', [this.input], [{ name: 'start', type: A.INT, i: this.axis }, { name: 'end', type: A.INT, i: this.axis + 1 }]);
    }
    return this.batch1d;
  }
  private batchAs(dataType: number): string {
    let b = this.batchFloat.get(dataType);
    if (!b) {
      const A = onnx.AttributeProto.AttributeType;
      b = this.node('Cast', [this.batch()], [{ name: 'to', type: A.INT, i: dataType }]);
      this.batchFloat.set(dataType, b);
    }
    return b;
  }
  /** One element [1] of the given type following `rule`. */
  private element(rule: Rule, dataType: number): string {
    const k = (x: number) => this.constant([x], dataType, [1]);
    const integer = dataType === onnxDType.int64 || dataType === onnxDType.int32;
    const b = integer && dataType === onnxDType.int64 ? this.batch() : this.batchAs(dataType);
    switch (rule.kind) {
      case 'const': return k(rule.c);
      case 'affine': return this.node('Add', [this.node('Mul', [b, k(rule.a)]), k(rule.b)]);
      case 'reciprocal': return this.node('Add', [this.node('Div', [k(rule.a), b]), k(rule.b)]);
      case 'ratio': return this.node('Div', [this.node('Add', [this.node('Mul', [b, k(rule.p)]), k(rule.q)]), this.node('Add', [b, k(rule.s)])]);
    }
  }
  /** Compute the tensor `name` (dims, type) from per-element rules at run time. */
  replace(name: string, dims: number[], dataType: number, rules: Rule[]): void {
    const parts = rules.map((r) => this.element(r, dataType));
    const flat = parts.length === 1 ? parts[0]! : this.node('Concat', parts, [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }]);
    this.node('Reshape', [flat, this.constant(dims, onnxDType.int64, [dims.length])], [], name);
  }
}

/** Where in the model a name is read, for errors. */
function readers(g: Obj, name: string): string[] {
  const out: string[] = [];
  const walk = (graph: Obj) => {
    for (const n of graph.node ?? []) {
      if ((n.input ?? []).includes(name)) out.push(`${n.opType} (${n.name})`);
      for (const a of n.attribute ?? []) if (a.g) walk(a.g);
    }
  };
  walk(g);
  return out;
}

/** Declared shapes: a dimension that follows the batch becomes the symbol `batch` (or `batch*a+b`). */
function symbolicShapes(B: readonly number[], infos: Obj[][], where: string): Obj[] {
  return infos[0]!.map((info, i) => {
    const dims: Obj[] = info.type?.tensorType?.shape?.dim ?? [];
    const newDims = dims.map((d, k) => {
      const values = infos.map((set) => Number(set[i]!.type.tensorType.shape.dim[k].dimValue));
      const rule = fitRule(B, values, true);
      if (!rule) throw new OnnxError(`export: dimension ${k} of ${where} ${info.name} changes with the batch size in no simple way, so it cannot be symbolic`);
      if (rule.kind === 'const') return d;
      if (rule.kind !== 'affine') throw new OnnxError(`internal: dimension rule ${rule.kind}`);
      return { dimParam: rule.a === 1 && rule.b === 0 ? 'batch' : `batch*${rule.a}+${rule.b}` };
    });
    return { ...info, type: { ...info.type, tensorType: { ...info.type.tensorType, shape: { dim: newDims } } } };
  });
}

/** Compare nodes (recursively into sub-graphs); sub-graph declared shapes become symbolic. */
function mergeNodes(B: readonly number[], graphs: Obj[], where: string): Obj[] {
  const [g0] = graphs;
  const nodes0: Obj[] = g0!.node ?? [];
  if (graphs.some((g) => (g.node ?? []).length !== nodes0.length)) {
    throw new ProbeCollision(`export: ${where} has a different number of nodes at different batch sizes; the function branches on the batch size, so its batch axis cannot be symbolic (export with batchArgs: [] for a fixed batch)`);
  }
  return nodes0.map((n, i) => {
    const others = graphs.map((g) => g.node[i]);
    const label = `${n.opType} (${n.name})`;
    const sameList = (k: string) => others.every((o) => JSON.stringify(o[k] ?? []) === JSON.stringify(n[k] ?? []));
    if (!others.every((o) => o.opType === n.opType) || !sameList('input') || !sameList('output')) {
      throw new ProbeCollision(`export: node ${label} differs between batch sizes; its batch axis cannot be symbolic`);
    }
    const attribute = (n.attribute ?? []).map((a: Obj, j: number) => {
      const as = others.map((o) => o.attribute[j]);
      if (a.g) {
        const sub = as.map((x) => x.g);
        return {
          ...a,
          g: {
            ...a.g,
            node: mergeNodes(B, sub, `the sub-graph ${a.g.name} of ${label}`),
            input: symbolicShapes(B, sub.map((s) => s.input ?? []), `an input of the sub-graph ${a.g.name}`),
            output: symbolicShapes(B, sub.map((s) => s.output ?? []), `an output of the sub-graph ${a.g.name}`),
          },
        };
      }
      const key = (x: Obj) => JSON.stringify({ ...x, t: undefined }) + (x.t ? Array.from(x.t.rawData ?? []).join(',') : '');
      if (!as.every((x) => key(x) === key(a))) {
        throw new OnnxError(`export: attribute ${a.name} of node ${label} depends on the batch size; its batch axis cannot be symbolic`);
      }
      return a;
    });
    return { ...n, attribute };
  });
}

/**
 * One model with a symbolic batch from `models`, the same function lowered at the batch sizes `B`
 * (one of PROBE_SETS); `batchInput` (axis `axis`) is where the run-time batch size is read.
 */
export function batchPolymorphic(B: readonly number[], models: readonly ModelObject[], batchInput: string, axis = 0): ModelObject {
  const graphs = models.map((m) => m.graph as Obj);
  const g0 = graphs[0]!;
  const inits0: Obj[] = g0.initializer ?? [];
  if (graphs.some((g) => (g.initializer ?? []).length !== inits0.length || g.initializer.some((t: Obj, i: number) => t.name !== inits0[i]!.name))) {
    throw new ProbeCollision('export: the graph\'s constants differ between batch sizes; its batch axis cannot be symbolic (export with batchArgs: [] for a fixed batch)');
  }
  const math = new BatchMath(batchInput, axis);
  const kept: Obj[] = [];
  inits0.forEach((t, i) => {
    const all = graphs.map((g) => g.initializer[i] as Obj);
    if (all.every((u) => sameBytes(u.rawData, t.rawData) && JSON.stringify(u.dims) === JSON.stringify(t.dims))) {
      kept.push(t);
      return;
    }
    const where = readers(g0, t.name).join(', ') || 'nothing';
    if (!all.every((u) => JSON.stringify(u.dims) === JSON.stringify(t.dims))) {
      throw new OnnxError(`export: a constant read by ${where} has a shape that depends on the batch size; its batch axis cannot be symbolic`);
    }
    const integer = t.dataType === onnxDType.int64 || t.dataType === onnxDType.int32;
    if (!integer && t.dataType !== onnxDType.float32 && t.dataType !== onnxDType.float64) {
      throw new OnnxError(`export: a ${t.dataType} constant read by ${where} depends on the batch size; its batch axis cannot be symbolic`);
    }
    const values = all.map(initValues);
    const rules = values[0]!.map((_, k) => fitRule(B, values.map((v) => v[k]!), integer));
    const bad = rules.findIndex((r) => r === null);
    if (bad >= 0) {
      throw new OnnxError(`export: a number read by ${where} (${values.map((v) => v[bad]).join(', ')} at batch ${B.join(', ')}) follows no simple rule of the batch size, so the batch axis cannot be symbolic there`);
    }
    math.replace(t.name, (t.dims ?? []).map(Number), t.dataType, rules as Rule[]);
  });
  const graph = {
    ...g0,
    node: [...math.nodes, ...mergeNodes(B, graphs, 'the graph')],
    initializer: [...kept, ...math.constants],
    input: symbolicShapes(B, graphs.map((g) => g.input ?? []), 'input'),
    output: symbolicShapes(B, graphs.map((g) => g.output ?? []), 'output'),
  };
  return { ...models[0], graph };
}
