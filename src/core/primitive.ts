import type { Aval, Graph, Params } from './ir.js';
import type { Tensor } from './tensor.js';
import type { Tracer } from './trace.js';

/** A value inside a trace: a tracer, or a host tensor used as a constant. */
export type Value = Tracer | Tensor;

/** Marks an input of a linear equation that is being transposed (its primal value is unknown). */
export class Undefined {
  constructor(readonly aval: Aval) {}
}

export type AttrValue =
  | number
  | { float: number }
  | number[]
  | { floats: number[] }
  | string
  | { graph: unknown }
  | { tensor: Tensor };

/**
 * What a graph is compiled for. Primitives whose lowering needs operators outside standard ONNX
 * are expanded into standard ones for targets without them.
 */
export interface Target {
  /** onnxruntime's contrib operators (domain com.microsoft, e.g. Inverse): its CPU and wasm providers have them. */
  readonly contribOps: boolean;
}

/** Standard ONNX only: what runs anywhere (WebGPU, other runtimes, exported files). */
export const PORTABLE_TARGET: Target = { contribOps: false };

/** What a primitive's ONNX lowering can do. Implemented by the backend. */
export interface LowerCtx {
  /** Emit an ONNX node (in `domain`, default the standard one); returns its output names. */
  node(opType: string, inputs: string[], attrs?: Record<string, AttrValue>, nOutputs?: number, domain?: string): string[];
  /** Emit an ONNX node with one output. */
  op(opType: string, inputs: string[], attrs?: Record<string, AttrValue>): string;
  /** A constant tensor (an initializer). */
  constant(t: Tensor): string;
  /** A 1-D int64 constant (shapes, axes, pads). */
  ints(values: readonly number[]): string;
  /** A scalar constant of a dtype. */
  scalar(value: number, dtype: Aval['dtype']): string;
  /**
   * Build an ONNX GraphProto (a Loop or If body): `build` lowers into a fresh context whose inputs are
   * named by `inputs`; names of the enclosing graph stay visible (ONNX outer scope).
   */
  subgraph(name: string, inputs: { name: string; aval: Aval | null }[], build: (sub: LowerCtx) => string[], outAvals: (Aval | null)[]): { graph: unknown };
  /** A fresh unique name. */
  fresh(prefix: string): string;
  /** Lower a sub-graph inline, given ONNX names for its inputs; returns output names. */
  inline(g: Graph, inputNames: string[]): string[];
}

export interface LowerInfo {
  readonly inAvals: readonly Aval[];
  readonly outAvals: readonly Aval[];
}

/**
 * A primitive keeps all of its rules together: shape/dtype rule, ONNX lowering (or an expansion
 * into other primitives), JVP rule and, for linear primitives, a transpose rule.
 */
export interface Primitive<P extends Params = Params> {
  readonly name: string;
  /** Output avals from input avals; throws ShapeError / DTypeError naming the op. */
  shape(inputs: readonly Aval[], params: P): Aval[];
  /** ONNX lowering. */
  lower?(ctx: LowerCtx, inputs: string[], params: P, info: LowerInfo): string[];
  /**
   * A decomposition into other primitives, for primitives without a lowering (or whose lowering
   * the target lacks): the expansion transform (transforms/expand.ts) replaces them before a graph
   * is lowered, and may pick a different decomposition per target.
   */
  expand?(inputs: Value[], params: P, target: Target): Value[];
  /** The lowering emits a com.microsoft operator: targets without contrib operators expand instead. */
  readonly contrib?: boolean;
  /**
   * Forward-mode rule: given primals and tangents (null = symbolic zero), return primal outputs
   * and output tangents, written with np ops.
   */
  jvp?(primals: Value[], tangents: (Value | null)[], params: P): [Value[], (Value | null)[]];
  /**
   * Transpose rule of a linear primitive: given output cotangents (null = zero) and inputs (an
   * Undefined marks the linear inputs), return cotangents for the inputs (null for non-linear ones).
   */
  transpose?(cts: (Value | null)[], inputs: (Value | Undefined)[], params: P): (Value | null)[];
  /**
   * Batching rule (vmap): given inputs and the batch axis of each (null = not batched), return
   * outputs and their batch axes, or null when the rule does not cover this case (vmap then
   * unrolls the batch).
   */
  batch?(inputs: Value[], dims: (number | null)[], params: P): [Value[], (number | null)[]] | null;
  /** Outputs whose derivative is always zero (integer or boolean results). */
  readonly nondifferentiable?: boolean;
  /** Sub-graphs carried in params, for transforms that walk all graphs. */
  subgraphs?(params: P): Graph[];
  /** The params with their sub-graphs replaced (in the order `subgraphs` gives them). */
  withSubgraphs?(params: P, graphs: Graph[]): P;
}

type RuleName = 'lower' | 'expand' | 'jvp' | 'transpose' | 'batch';

/**
 * A primitive's rule, or undefined when it has none: the one place the transforms look rules up.
 * It is a plain property read; each transform says what a missing rule means for it.
 */
export const ruleOf = <K extends RuleName>(prim: Primitive, rule: K): Primitive[K] => prim[rule];

const registry = new Map<string, Primitive>();

export function definePrimitive<P extends Params>(p: Primitive<P>): Primitive<P> {
  if (registry.has(p.name)) throw new Error(`primitive ${p.name} defined twice`);
  registry.set(p.name, p);
  return p;
}

export const primitives = (): ReadonlyMap<string, Primitive> => registry;
