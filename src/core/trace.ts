import type { DType } from './dtype.js';
import { TraceError } from './errors.js';
import { type Atom, type Aval, type Eqn, type Graph, Lit, type Params, type Tap, Var } from './ir.js';
import type { Primitive, Value } from './primitive.js';
import { type Shape, Tensor } from './tensor.js';

/**
 * A tracer stands for a tensor inside a function being traced. Operations on tracers record
 * equations in the builder that owns them; nothing is computed until the graph is run.
 */
export class Tracer {
  constructor(
    readonly builder: Builder,
    readonly variable: Var,
  ) {}
  get aval(): Aval { return this.variable.aval; }
  get shape(): Shape { return this.variable.aval.shape; }
  get dtype(): DType { return this.variable.aval.dtype; }
  get rank(): number { return this.variable.aval.shape.length; }
  toString(): string { return `Tracer(${this.dtype}, [${this.shape}])`; }
}

/** Records equations while a function is traced. */
export class Builder {
  readonly inputs: Var[] = [];
  readonly eqns: Eqn[] = [];
  readonly taps: Tap[] = [];
  /** Tracers of enclosing traces used here: captured as extra graph inputs. */
  readonly captured = new Map<Tracer, Var>();

  newInput(aval: Aval): Tracer {
    const v = new Var(aval);
    this.inputs.push(v);
    return new Tracer(this, v);
  }

  atom(x: Value): Atom {
    if (x instanceof Tensor) return new Lit(x);
    if (x.builder === this) return x.variable;
    let v = this.captured.get(x);
    if (!v) {
      v = new Var(x.aval);
      this.captured.set(x, v);
    }
    return v;
  }
}

const stack: Builder[] = [];

export const isTracing = (): boolean => stack.length > 0;
export const currentBuilder = (): Builder | undefined => stack[stack.length - 1];

export const avalOf = (x: Value): Aval => (x instanceof Tensor ? x : x.aval);

/** Apply a primitive inside the current trace. */
export function bind(prim: Primitive, inputs: readonly Value[], params: Params = {}): Tracer[] {
  const b = currentBuilder();
  if (!b) {
    throw new TraceError(
      `${prim.name} was called outside a traced function: np.* ops build graphs. ` +
        `Wrap the computation in jit(fn) (or grad/vjp/jvp) and call that with tensors.`,
    );
  }
  const atoms = inputs.map((x) => b.atom(x));
  const outAvals = prim.shape(atoms.map((a) => a.aval), params);
  const outs = outAvals.map((a) => new Var(a));
  b.eqns.push({ prim, inputs: atoms, outputs: outs, params });
  return outs.map((v) => new Tracer(b, v));
}

export const bind1 = (prim: Primitive, inputs: readonly Value[], params: Params = {}): Tracer =>
  bind(prim, inputs, params)[0]!;

/** Record a side output (e.g. solver stats, by field name) that reaches the top-level run. */
export function tap(label: string, values: Readonly<Record<string, Value>>): void {
  const b = currentBuilder();
  if (!b) return;
  const names = Object.keys(values);
  b.taps.push({ label, names, atoms: names.map((n) => b.atom(values[n]!)) });
}

/** Record a tap of an interpreted graph again in the current trace, reading its atoms with `read`. */
export function retap(t: Tap, read: (a: Atom) => Value): void {
  tap(t.label, Object.fromEntries(t.names.map((n, i) => [n, read(t.atoms[i]!)])));
}

/** The result of tracing: a graph whose last inputs stand for `captured` tracers of enclosing traces. */
export interface TracedGraph {
  graph: Graph;
  captured: Tracer[];
}

/** Trace `fn` on abstract inputs; every output must be a Value. */
export function traceGraph(fn: (...xs: Tracer[]) => Value[], inAvals: readonly Aval[]): TracedGraph {
  const b = new Builder();
  stack.push(b);
  let outs: Value[];
  try {
    const ins = inAvals.map((a) => b.newInput(a));
    outs = fn(...ins);
  } finally {
    stack.pop();
  }
  const outputs = outs.map((o) => {
    if (!(o instanceof Tensor) && !(o instanceof Tracer)) {
      throw new TraceError(`traced function returned ${String(o)}: outputs must be tensors or traced values`);
    }
    return b.atom(o);
  });
  const captured = [...b.captured.keys()];
  const graph: Graph = {
    inputs: [...b.inputs, ...captured.map((t) => b.captured.get(t)!)],
    outputs,
    eqns: b.eqns,
    taps: b.taps,
  };
  return { graph, captured };
}

/** Read an atom in an environment mapping variables to values. */
export function readAtom(env: Map<Var, Value>, a: Atom): Value {
  if (a instanceof Lit) return a.value;
  const v = env.get(a);
  if (v === undefined) throw new TraceError(`internal: variable v${a.id} used before it is defined`);
  return v;
}

/**
 * Evaluate a graph inside the current trace (inlining it), re-recording its taps. Each equation
 * goes through `apply` (default: bind it as it is; expansion passes its own).
 */
export function evalGraph(
  g: Graph,
  inputs: readonly Value[],
  apply: (prim: Primitive, inputs: Value[], params: Params) => Value[] = bind,
): Value[] {
  if (inputs.length !== g.inputs.length) {
    throw new TraceError(`internal: graph takes ${g.inputs.length} inputs, got ${inputs.length}`);
  }
  const env = new Map<Var, Value>();
  g.inputs.forEach((v, i) => env.set(v, inputs[i]!));
  for (const e of g.eqns) {
    const outs = apply(e.prim, e.inputs.map((a) => readAtom(env, a)), e.params);
    e.outputs.forEach((v, i) => env.set(v, outs[i]!));
  }
  for (const t of g.taps) retap(t, (a) => readAtom(env, a));
  return g.outputs.map((a) => readAtom(env, a));
}
