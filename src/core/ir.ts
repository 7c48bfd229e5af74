import type { DType } from './dtype.js';
import type { Primitive } from './primitive.js';
import type { Shape, Tensor } from './tensor.js';

/** An abstract value: what a tracer knows about the tensor it stands for. */
export interface Aval {
  readonly shape: Shape;
  readonly dtype: DType;
}

export const avalKey = (a: Aval): string => `${a.dtype}[${a.shape.join(',')}]`;
export const sameAval = (a: Aval, b: Aval): boolean =>
  a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

let nextVarId = 0;

/** A variable of the IR: defined once, by a graph input or an equation output. */
export class Var {
  readonly id = nextVarId++;
  constructor(readonly aval: Aval) {}
}

/** A literal constant in the IR (becomes an ONNX initializer). */
export class Lit {
  constructor(readonly value: Tensor) {}
  get aval(): Aval { return this.value; }
}

export type Atom = Var | Lit;

export type Params = Record<string, unknown>;

/** One primitive application: outputs = prim(inputs; params). */
export interface Eqn {
  readonly prim: Primitive;
  readonly inputs: readonly Atom[];
  readonly outputs: readonly Var[];
  readonly params: Params;
}

/**
 * A named side output (solver statistics) that travels out of nested graphs to the top-level run:
 * a record of values, `names[i]` naming `atoms[i]`.
 */
export interface Tap {
  readonly label: string;
  readonly names: readonly string[];
  readonly atoms: readonly Atom[];
}

/**
 * A graph in the IR: a straight-line program over primitives (higher-order primitives carry
 * sub-graphs in their params). Graphs are values: transforms map graphs to graphs.
 */
export interface Graph {
  readonly inputs: readonly Var[];
  readonly outputs: readonly Atom[];
  readonly eqns: readonly Eqn[];
  readonly taps: readonly Tap[];
}

export function graphToString(g: Graph): string {
  const a = (x: Atom) => (x instanceof Var ? `v${x.id}` : `lit${avalKey(x.aval)}`);
  const lines = [`graph(${g.inputs.map((v) => `v${v.id}:${avalKey(v.aval)}`).join(', ')}) {`];
  for (const e of g.eqns) {
    lines.push(`  ${e.outputs.map((v) => `v${v.id}:${avalKey(v.aval)}`).join(', ')} = ${e.prim.name}(${e.inputs.map(a).join(', ')})`);
  }
  lines.push(`  return ${g.outputs.map(a).join(', ')}`, '}');
  return lines.join('\n');
}
