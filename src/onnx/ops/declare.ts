/**
 * How an ONNX op's mapping is declared: the inputs, outputs and attributes it understands (with
 * types, defaults, opsets and allowed ranges) next to the function that maps it onto np ops. The
 * declarations serve three readers: the import validates every node against them before mapping
 * it (an attribute it does not declare, or a value out of range, is an OnnxError naming the node),
 * op implementations read attributes only through them, and docs/onnx-ops.md is generated from them.
 */
import type { DType } from '../../core/dtype.js';
import { isFloat } from '../../core/dtype.js';
import { OnnxError } from '../../core/errors.js';
import type { Value } from '../../core/primitive.js';
import { Tensor } from '../../core/tensor.js';
import { avalOf } from '../../core/trace.js';
import type { NodeProto } from '../proto.js';

export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'string' | 'strings' | 'tensor';
export type AttrValue = number | number[] | string | string[] | Tensor;

export interface AttrDecl {
  readonly kind: AttrKind;
  /** The value when the attribute is absent (a function of the opset where ONNX changed it). */
  readonly default?: number | readonly number[] | string | ((opset: number) => number);
  /** The node must give the attribute. Neither default nor required: the mapping decides (documented in `doc`). */
  readonly required?: boolean;
  /** Opsets that define the attribute, [first, last] (open-ended without a last). */
  readonly opsets?: readonly [number, number?];
  /** Allowed values. */
  readonly oneOf?: readonly (string | number)[];
  /** Inclusive bounds of each value. */
  readonly min?: number;
  readonly max?: number;
  /**
   * Axes of input 0 (rank r): each in [-r, r-1] ('r') or [-r, r] ('r+1'), normalised when read,
   * and no axis twice.
   */
  readonly axis?: 'r' | 'r+1';
  /** What the value means when the declaration alone does not say (docs). */
  readonly doc?: string;
}

/** float: float32/float64; int: int32/int64; numeric: either; bool; any: all five dtypes. */
export type InputType = 'float' | 'int' | 'numeric' | 'bool' | 'any';

export interface InputDecl {
  readonly name: string;
  readonly type: InputType;
  readonly optional?: boolean;
  /** Any number of inputs from here on (at least one unless optional). */
  readonly variadic?: boolean;
  /** Must be known at import time (a constant, an integer initializer or a folded shape computation). */
  readonly host?: boolean;
  /** Only the input's type is read (CastLike's target): no derivative flows to it. */
  readonly typeOnly?: boolean;
  /** Opsets that define the input, [first, last]. */
  readonly opsets?: readonly [number, number?];
}

export type Family = 'normalization' | 'linear and conv' | 'activations' | 'shape and indexing' | 'reductions' | 'maths';

export interface OpSpec {
  readonly op: string;
  readonly family: Family;
  /** The oldest opset whose semantics the mapping follows. */
  readonly since: number;
  readonly inputs: readonly InputDecl[];
  /** Output names; the mapping computes each one a node asks for ('...' at the end: any number). */
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrDecl>>;
  /** Derivatives flow to the float inputs that are not host inputs (false: integer or boolean results). */
  readonly differentiable: boolean;
  /** How float64 runs where onnxruntime has no float64 kernel for the op. */
  readonly float64?: string;
  readonly notes?: string;
  /** The mapping: np ops (or host arithmetic) producing the outputs the node asks for. */
  readonly map: (c: OpContext) => Value[];
}

/** Declare one op (a typed identity, so that declarations are checked where they are written). */
export const declare = (spec: OpSpec): OpSpec => spec;

export const FLOATS: readonly DType[] = ['float32', 'float64'];
export const accepts = (t: InputType, d: DType): boolean =>
  t === 'any' || (t === 'float' && isFloat(d)) || (t === 'int' && (d === 'int64' || d === 'int32')) ||
  (t === 'numeric' && d !== 'bool') || (t === 'bool' && d === 'bool');

export const attrDefault = (d: AttrDecl, opset: number): AttrValue | undefined => {
  const v = d.default;
  if (v === undefined) return undefined;
  if (typeof v === 'function') return v(opset);
  return typeof v === 'string' || typeof v === 'number' ? v : [...v];
};

/**
 * What an op mapping sees: its node's validated attributes (read through the declarations),
 * its inputs, and whether those are host values (constants that can be folded at import).
 */
export class OpContext {
  /** "Conv (conv1)": names the node in errors. */
  readonly label: string;

  constructor(
    readonly spec: OpSpec,
    readonly node: NodeProto,
    readonly inputs: readonly (Value | undefined)[],
    readonly opset: number,
    readonly what: string,
    private readonly attrs: ReadonlyMap<string, AttrValue>,
    /** A value known on the host that is not a weight (weights stay traced: they may be replaced). */
    readonly isHost: (v: Value) => v is Tensor,
  ) {
    this.label = `${node.opType}${node.name ? ` (${node.name})` : ''}`;
  }

  /** An OnnxError naming the model and the node (a bound function: it can be passed on). */
  readonly fail: (message: string) => never = (message) => {
    throw new OnnxError(`${this.what}: ${this.label}: ${message}`);
  };

  private inputName(i: number): string {
    const decl = this.spec.inputs[Math.min(i, this.spec.inputs.length - 1)];
    return decl ? `input ${i} (${decl.name})` : `input ${i}`;
  }

  input(i: number): Value {
    const v = this.inputs[i];
    if (!v) this.fail(`needs ${this.inputName(i)}`);
    return v;
  }
  optionalInput(i: number): Value | undefined {
    return this.inputs[i];
  }
  /** The present inputs from `from` on (variadic ops). */
  rest(from = 0): Value[] {
    return this.inputs.slice(from).filter((v): v is Value => v !== undefined);
  }
  /** The inputs as host tensors (by position) when every present one is a host value: the op can be folded. */
  folded(): (Tensor | undefined)[] | undefined {
    const out: (Tensor | undefined)[] = [];
    for (const v of this.inputs) {
      if (v !== undefined && !this.isHost(v)) return undefined;
      out.push(v);
    }
    return out;
  }
  /** The present inputs as host tensors, when all are host values. */
  foldedRest(from = 0): Tensor[] | undefined {
    const f = this.folded();
    return f?.slice(from).filter((t): t is Tensor => t !== undefined);
  }

  /** An input that must be known at import time. */
  hostInput(i: number): Tensor {
    const v = this.input(i);
    if (!(v instanceof Tensor)) {
      this.fail(
        `takes its ${this.inputName(i)} from a value computed from the model's inputs; only values known at import can be used here ` +
          '(constants, integer initializers, or shape computations of known shapes). Re-export the model with static shapes or constant folding.',
      );
    }
    return v;
  }
  hostInts(i: number): number[] {
    const t = this.hostInput(i);
    if (t.dtype !== 'int64' && t.dtype !== 'int32') this.fail(`${this.inputName(i)} must be int64 or int32, got ${t.dtype}`);
    return t.toArray();
  }

  /** Outputs the node names (empty names are skipped outputs). */
  wants(i: number): boolean {
    return !!this.node.output?.[i];
  }
  get outputCount(): number {
    return this.node.output?.length ?? 0;
  }

  private read(name: string): AttrValue | undefined {
    const decl = this.spec.attrs[name];
    if (!decl) throw new Error(`internal: ${this.spec.op} reads attribute ${name}, which its declaration lacks`);
    return this.attrs.has(name) ? this.attrs.get(name) : attrDefault(decl, this.opset);
  }
  has(name: string): boolean {
    this.read(name);
    return this.attrs.has(name);
  }
  int(name: string): number {
    const v = this.read(name);
    if (typeof v !== 'number') this.fail(`needs attribute ${name}`);
    return v;
  }
  float(name: string): number {
    return this.int(name);
  }
  ints(name: string): number[] | undefined {
    const v = this.read(name);
    return v === undefined ? undefined : (v as number[]);
  }
  floats(name: string): number[] | undefined {
    return this.ints(name);
  }
  string(name: string): string {
    const v = this.read(name);
    if (typeof v !== 'string') this.fail(`needs attribute ${name}`);
    return v;
  }
  tensor(name: string): Tensor | undefined {
    const v = this.read(name);
    return v instanceof Tensor ? v : undefined;
  }

  /** An axis attribute, checked against the rank of input 0 and normalised. */
  axis(name: string, rank = rankOf(this.input(0))): number {
    return this.normAxis(this.int(name), rank, this.spec.attrs[name]!.axis ?? 'r', `attribute ${name}`);
  }
  /** Axes from an attribute or host input, checked (range, duplicates) and normalised. */
  axesOf(values: readonly number[], rank: number, what: string, range: 'r' | 'r+1' = 'r'): number[] {
    const out = values.map((a) => this.normAxis(a, rank, range, what));
    const dup = out.find((a, i) => out.indexOf(a) !== i);
    if (dup !== undefined) this.fail(`${what} [${values}] name axis ${dup} twice`);
    return out;
  }
  normAxis(a: number, rank: number, range: 'r' | 'r+1', what: string): number {
    const hi = range === 'r' ? rank - 1 : rank;
    if (!Number.isInteger(a) || a < -rank || a > hi) this.fail(`${what} = ${a} is out of range for a rank-${rank} input (allowed ${-rank}..${hi})`);
    return a < 0 ? a + rank : a;
  }
}

export const rankOf = (v: Value): number => avalOf(v).shape.length;
export { dtypeOf, shapeOf } from '../../ops/util.js';
