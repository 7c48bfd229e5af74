/**
 * The structure the ONNX checker requires of every graph, nested ones and function bodies too:
 * each value is written once (by a graph input, an initializer or one node output, across a graph
 * and the graphs around it), each is defined before it is read (nodes in topological order), graph
 * outputs exist, and an initializer that is also a graph input agrees with its declared type.
 */
import { OnnxError } from '../core/errors.js';
import { type GraphLike, type ModelLike, type NodeLike, nodeLabel, subgraphsOf, toNumber } from './walk.js';

type Scope = ReadonlyMap<string, string>;

export function checkGraphStructure(model: ModelLike, what: string): void {
  if (model.graph) checkGraph(model.graph, 'the main graph', new Map(), what);
  for (const f of model.functions ?? []) {
    checkBody({ name: `function ${f.name}`, node: f.node ?? [], inputs: f.input ?? [], outputs: f.output ?? [] }, new Map(), what);
  }
}

interface Body {
  name: string;
  node: readonly NodeLike[];
  inputs: readonly string[];
  outputs: readonly string[];
  initializers?: readonly string[];
}

function checkGraph(g: GraphLike, where: string, outer: Scope, what: string): void {
  const inputs = (g.input ?? []).map((v) => v.name ?? '');
  const inits = [...(g.initializer ?? []).map((t) => t.name ?? ''), ...(g.sparseInitializer ?? []).map((s) => s.values?.name ?? '')];
  checkInitializerTypes(g, where, what);
  checkBody({ name: where, node: g.node ?? [], inputs, outputs: (g.output ?? []).map((v) => v.name ?? ''), initializers: inits }, outer, what);
}

/** The names of one graph or function body, in SSA form, within the scopes around it. */
function checkBody(b: Body, outer: Scope, what: string): void {
  const scope = new Map(outer);
  const define = (name: string, by: string) => {
    if (!name) throw new OnnxError(`${what}: ${by} in ${b.name} has an empty name`);
    const prev = scope.get(name);
    if (prev !== undefined) {
      throw new OnnxError(`${what}: '${name}' is written twice, by ${prev} and by ${by} in ${b.name}; every value must have exactly one writer`);
    }
    scope.set(name, `${by} in ${b.name}`);
  };
  b.inputs.forEach((n) => define(n, `an input`));
  const inputSet = new Set(b.inputs);
  const seenInit = new Set<string>();
  for (const n of b.initializers ?? []) {
    if (seenInit.has(n)) throw new OnnxError(`${what}: two initializers are named '${n}' in ${b.name}`);
    seenInit.add(n);
    // an initializer may also be listed as a graph input (its default value)
    if (!inputSet.has(n)) define(n, 'an initializer');
  }
  b.node.forEach((node, i) => {
    if (!node.opType) throw new OnnxError(`${what}: ${nodeLabel(node, i)} in ${b.name} has no op type: the file is damaged`);
    for (const x of node.input ?? []) {
      if (x && !scope.has(x)) {
        throw new OnnxError(
          `${what}: ${nodeLabel(node, i)} in ${b.name} reads '${x}', which is not defined before it ` +
            '(ONNX requires nodes in topological order, each input a graph input, initializer or earlier output)',
        );
      }
    }
    checkAttributes(node, `${nodeLabel(node, i)} in ${b.name}`, what);
    for (const s of subgraphsOf(node)) checkGraph(s.graph, `${s.where} in ${b.name}`, scope, what);
    for (const y of node.output ?? []) if (y) define(y, nodeLabel(node, i));
  });
  const seenOut = new Set<string>();
  for (const y of b.outputs) {
    if (!y) throw new OnnxError(`${what}: an output of ${b.name} has an empty name`);
    if (seenOut.has(y)) throw new OnnxError(`${what}: output '${y}' is listed twice in ${b.name}`);
    seenOut.add(y);
    if (!scope.has(y)) throw new OnnxError(`${what}: output '${y}' of ${b.name} is not computed by any node, input or initializer`);
  }
}

/** AttributeProto.AttributeType: FLOAT 1 … TYPE_PROTOS 14; the message-valued ones and their fields. */
const MAX_ATTRIBUTE_TYPE = 14;
const MESSAGE_FIELD: Record<number, 't' | 'g' | 'sparseTensor' | 'tp'> = { 4: 't', 5: 'g', 11: 'sparseTensor', 13: 'tp' };

/** Each attribute named once, of a known type, with its value where that type keeps it (as the ONNX checker requires). */
function checkAttributes(node: NodeLike, label: string, what: string): void {
  const seen = new Set<string>();
  for (const a of node.attribute ?? []) {
    if (!a.name) throw new OnnxError(`${what}: ${label} has an attribute without a name`);
    if (seen.has(a.name)) throw new OnnxError(`${what}: ${label} has attribute ${a.name} twice`);
    seen.add(a.name);
    // in a function body an attribute may refer to one of the function's own (no value of its own)
    if (a.refAttrName) continue;
    const type = a.type ?? 0;
    if (!(type >= 1 && type <= MAX_ATTRIBUTE_TYPE)) {
      throw new OnnxError(`${what}: attribute ${a.name} of ${label} has no valid type (${type}); the file is damaged`);
    }
    const field = MESSAGE_FIELD[type];
    if (field && !a[field]) throw new OnnxError(`${what}: attribute ${a.name} of ${label} is of type ${type} but holds no value`);
  }
}

/** An initializer that is also a graph input must have the input's element type and static dims. */
function checkInitializerTypes(g: GraphLike, where: string, what: string): void {
  const declared = new Map((g.input ?? []).map((v) => [v.name ?? '', v.type?.tensorType]));
  for (const t of g.initializer ?? []) {
    const tt = declared.get(t.name ?? '');
    if (!tt) continue;
    if (tt.elemType && tt.elemType !== t.dataType) {
      throw new OnnxError(`${what}: initializer '${t.name}' of ${where} has data type ${t.dataType} but the graph input of that name declares ${tt.elemType}`);
    }
    const dims = tt.shape?.dim;
    if (!dims) continue;
    const shape = (t.dims ?? []).map(toNumber);
    const agree = dims.length === shape.length && dims.every((d, i) => d.dimValue === null || d.dimValue === undefined || d.dimParam || toNumber(d.dimValue) === shape[i]);
    if (!agree) {
      const want = dims.map((d) => (d.dimValue !== null && d.dimValue !== undefined && !d.dimParam ? toNumber(d.dimValue) : '?'));
      throw new OnnxError(`${what}: initializer '${t.name}' of ${where} has shape [${shape.join(', ')}] but the graph input of that name declares [${want.join(', ')}]`);
    }
  }
}
