/**
 * Every place a ModelProto can hold a graph or a tensor, at any depth: the main graph, graphs
 * inside node attributes (Loop, If and Scan bodies, nested), model-local functions and training
 * graphs; dense and sparse initializers and tensor attributes (Constant values and the like).
 * A check that must see all of a file's data (external references, declared sizes) walks these.
 */
import onnxProto from 'onnx-proto';

type onnx = typeof onnxProto.onnx;
export type GraphLike = onnxProto.onnx.IGraphProto;
export type NodeLike = onnxProto.onnx.INodeProto;
export type TensorLike = onnxProto.onnx.ITensorProto;
export type SparseTensorLike = onnxProto.onnx.ISparseTensorProto;
export type ModelLike = Pick<InstanceType<onnx['ModelProto']>, 'graph' | 'functions' | 'trainingInfo'>;

/** A graph to check, where it sits (for error messages), and the graph it is nested in. */
export interface GraphSite {
  graph: GraphLike;
  where: string;
  /** The site of the graph this one is an attribute of (undefined for top-level graphs). */
  parent?: GraphSite;
}

/** A tensor and where it sits; `dense` is the dense shape when the tensor is part of a sparse tensor. */
export interface TensorSite {
  tensor: TensorLike;
  where: string;
  sparse?: { dims: readonly unknown[]; part: 'values' | 'indices' };
}

/** protobufjs gives int64 fields as Long objects (or numbers when Long is absent). */
export function toNumber(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x && typeof (x as { toNumber?: unknown }).toNumber === 'function') return (x as { toNumber(): number }).toNumber();
  return Number(x);
}

/** "node 'name' (Op)"; an unnamed node is "node #i (Op)" where its index `i` is known. */
export const nodeLabel = (n: NodeLike, i?: number): string =>
  `node ${n.name ? `'${n.name}' ` : i !== undefined ? `#${i} ` : ''}(${n.opType ?? '?'})`;

/** The graphs a node holds as attributes (GRAPH and GRAPHS). */
export function subgraphsOf(node: NodeLike): { graph: GraphLike; where: string }[] {
  const out: { graph: GraphLike; where: string }[] = [];
  for (const a of node.attribute ?? []) {
    if (a.g) out.push({ graph: a.g, where: `attribute ${a.name} of ${nodeLabel(node)}` });
    (a.graphs ?? []).forEach((g, i) => out.push({ graph: g, where: `attribute ${a.name}[${i}] of ${nodeLabel(node)}` }));
  }
  return out;
}

/** The main graph, then every graph nested in node attributes, depth first; then training graphs. */
export function allGraphs(model: ModelLike): GraphSite[] {
  const sites: GraphSite[] = [];
  const visit = (graph: GraphLike, where: string, parent?: GraphSite) => {
    const site: GraphSite = { graph, where, parent };
    sites.push(site);
    for (const n of graph.node ?? []) for (const s of subgraphsOf(n)) visit(s.graph, `${s.where} in ${where}`, site);
  };
  if (model.graph) visit(model.graph, 'the main graph');
  for (const f of model.functions ?? []) {
    for (const n of f.node ?? []) for (const s of subgraphsOf(n)) visit(s.graph, `${s.where} in function ${f.name}`);
  }
  (model.trainingInfo ?? []).forEach((t, i) => {
    if (t.initialization) visit(t.initialization, `training_info[${i}].initialization`);
    if (t.algorithm) visit(t.algorithm, `training_info[${i}].algorithm`);
  });
  return sites;
}

/** Every tensor of the model: initializers, sparse initializers and tensor attributes, at any depth. */
export function allTensors(model: ModelLike): TensorSite[] {
  const out: TensorSite[] = [];
  const sparse = (s: SparseTensorLike, where: string) => {
    if (s.values) out.push({ tensor: s.values, where, sparse: { dims: s.dims ?? [], part: 'values' } });
    if (s.indices) out.push({ tensor: s.indices, where, sparse: { dims: s.dims ?? [], part: 'indices' } });
  };
  const nodeTensors = (nodes: readonly NodeLike[], where: string) => {
    for (const n of nodes) {
      for (const a of n.attribute ?? []) {
        const at = `attribute ${a.name} of ${nodeLabel(n)} in ${where}`;
        if (a.t) out.push({ tensor: a.t, where: at });
        for (const t of a.tensors ?? []) out.push({ tensor: t, where: at });
        if (a.sparseTensor) sparse(a.sparseTensor, `sparse ${at}`);
        for (const s of a.sparseTensors ?? []) sparse(s, `sparse ${at}`);
      }
    }
  };
  for (const { graph, where } of allGraphs(model)) {
    for (const t of graph.initializer ?? []) out.push({ tensor: t, where: `an initializer of ${where}` });
    for (const s of graph.sparseInitializer ?? []) sparse(s, `a sparse initializer of ${where}`);
    nodeTensors(graph.node ?? [], where);
  }
  for (const f of model.functions ?? []) nodeTensors(f.node ?? [], `function ${f.name}`);
  return out;
}
