/**
 * Running one ONNX node of an imported model: the node is checked against its op's declaration
 * (src/onnx/ops/) as the ONNX checker would — attributes it does not declare, attributes of other
 * opsets, wrong attribute types, values out of range, missing or surplus inputs and outputs, input
 * types — each an OnnxError naming the node; then the op's mapping computes the outputs.
 */
import { OnnxError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { Tensor } from '../core/tensor.js';
import { accepts, type AttrDecl, type AttrKind, type AttrValue, type InputDecl, OpContext, type OpSpec, dtypeOf } from './ops/declare.js';
import { onnxOps } from './ops/index.js';
import { type AttributeProto, type NodeProto, tensorFromProto } from './proto.js';
import { toNumber } from './walk.js';

export { onnxOps };

const KIND_OF_TYPE: Record<number, AttrKind> = { 1: 'float', 2: 'int', 3: 'string', 4: 'tensor', 6: 'floats', 7: 'ints', 8: 'strings' };
const TYPE_NAMES: Record<number, string> = { 0: 'UNDEFINED', 1: 'FLOAT', 2: 'INT', 3: 'STRING', 4: 'TENSOR', 5: 'GRAPH', 6: 'FLOATS', 7: 'INTS', 8: 'STRINGS', 11: 'SPARSE_TENSOR', 13: 'TYPE_PROTO' };

const TYPE_WORDS: Record<InputDecl['type'], string> = {
  float: 'a float32 or float64', int: 'an int32 or int64', numeric: 'a float or integer', bool: 'a bool', any: 'any',
};

const inOpsets = (r: readonly [number, number?] | undefined, opset: number): boolean =>
  !r || (opset >= r[0] && (r[1] === undefined || opset <= r[1]));
const fmtOpsets = (r: readonly [number, number?]): string => (r[1] === undefined ? `from opset ${r[0]}` : `in opsets ${r[0]}–${r[1]}`);

/** The inputs an op takes at an opset (declarations list them in order; later opsets append). */
export const inputsAt = (spec: OpSpec, opset: number): readonly InputDecl[] => spec.inputs.filter((i) => inOpsets(i.opsets, opset));

function decodeAttribute(a: AttributeProto, kind: AttrKind): AttrValue {
  const text = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());
  switch (kind) {
    case 'int': return toNumber(a.i);
    case 'float': return a.f ?? 0;
    case 'ints': return (a.ints ?? []).map(toNumber);
    case 'floats': return [...(a.floats ?? [])];
    case 'string': return text(a.s);
    case 'strings': return (a.strings ?? []).map(text);
    case 'tensor':
      // decodeModel's graph check refuses a tensor attribute without its tensor
      return tensorFromProto(a.t!, `attribute ${a.name}`);
  }
}

function checkValue(name: string, d: AttrDecl, v: AttrValue, fail: (m: string) => never): void {
  const values = Array.isArray(v) ? v : [v];
  for (const x of values) {
    if (d.oneOf && !d.oneOf.includes(x as string | number)) fail(`attribute ${name} = ${JSON.stringify(x)} is not one of ${d.oneOf.map((o) => JSON.stringify(o)).join(', ')}`);
    if (typeof x === 'number') {
      if (d.kind.startsWith('int') && !Number.isSafeInteger(x)) fail(`attribute ${name} = ${x} is not an integer the import can represent`);
      if ((d.min !== undefined && x < d.min) || (d.max !== undefined && x > d.max)) {
        fail(`attribute ${name} = ${Array.isArray(v) ? `[${v}]` : x} is out of range (each value ${d.min !== undefined ? `≥ ${d.min}` : ''}${d.min !== undefined && d.max !== undefined ? ' and ' : ''}${d.max !== undefined ? `≤ ${d.max}` : ''})`);
      }
    }
  }
}

/** The node's attributes, checked against the declaration, decoded into `out`. */
function readAttributes(spec: OpSpec, node: NodeProto, opset: number, out: Map<string, AttrValue>, fail: (m: string) => never): void {
  const known = Object.entries(spec.attrs).filter(([, d]) => inOpsets(d.opsets, opset)).map(([n]) => n);
  for (const a of (node.attribute ?? []) as AttributeProto[]) {
    const name = a.name ?? '';
    const d = spec.attrs[name];
    if (!d) {
      fail(`has attribute ${name}, which the import of ${spec.op} does not understand` +
        (known.length ? ` (it reads ${known.join(', ')})` : ' (it reads none)') + '; an attribute is never ignored');
    }
    if (!inOpsets(d.opsets, opset)) fail(`has attribute ${name}, which ${spec.op} has ${fmtOpsets(d.opsets!)}, not at this model's opset ${opset}`);
    if (a.refAttrName) fail(`attribute ${name} refers to a function attribute (${a.refAttrName}); only model graphs can be imported`);
    const kind = KIND_OF_TYPE[a.type ?? 0];
    if (kind !== d.kind) fail(`attribute ${name} must be ${d.kind.toUpperCase()}, got ${TYPE_NAMES[a.type ?? 0] ?? a.type}`);
    const v = decodeAttribute(a, kind);
    checkValue(name, d, v, fail);
    out.set(name, v);
  }
  for (const [name, d] of Object.entries(spec.attrs)) {
    if (d.required && inOpsets(d.opsets, opset) && !out.has(name)) fail(`needs attribute ${name}`);
  }
}

function checkInputs(spec: OpSpec, node: NodeProto, inputs: readonly (Value | undefined)[], opset: number, fail: (m: string) => never): void {
  const decls = inputsAt(spec, opset);
  const variadic = decls[decls.length - 1]?.variadic;
  if (!variadic && inputs.length > decls.length) fail(`has ${inputs.length} inputs; at opset ${opset} ${spec.op} takes at most ${decls.length} (${decls.map((i) => i.name).join(', ')})`);
  decls.forEach((d, i) => {
    if (!d.optional && !d.variadic && !inputs[i]) fail(`needs input ${i} (${d.name})`);
  });
  if (variadic && !decls[decls.length - 1]!.optional && inputs.slice(decls.length - 1).every((v) => !v)) fail(`needs at least one ${decls[decls.length - 1]!.name} input`);
  inputs.forEach((v, i) => {
    const d = decls[Math.min(i, decls.length - 1)]!;
    if (v && !accepts(d.type, dtypeOf(v))) fail(`input ${i} (${d.name}) is ${dtypeOf(v)}; ${spec.op} takes ${TYPE_WORDS[d.type]} tensor there`);
  });
  const variadicOut = spec.outputs[spec.outputs.length - 1] === '...';
  const outs = node.output?.length ?? 0;
  if (!variadicOut && outs > spec.outputs.length) fail(`has ${outs} outputs; ${spec.op} has at most ${spec.outputs.length} (${spec.outputs.join(', ')})`);
}

/** The op's declaration, or undefined when it has no mapping (or another domain). */
export function specOf(node: { domain?: string | null; opType?: string | null }): OpSpec | undefined {
  if (node.domain && node.domain !== 'ai.onnx') return undefined;
  return onnxOps.get(node.opType ?? '');
}

/**
 * Check and map one node: returns its outputs in order (undefined for outputs the node skips).
 * `isHost` tells host values that may be folded (constants, shapes) from weights, which may not.
 */
export function runNode(
  node: NodeProto,
  inputs: readonly (Value | undefined)[],
  opset: number,
  what: string,
  isHost: (v: Value) => v is Tensor,
): (Value | undefined)[] {
  const spec = specOf(node)!;
  // the context names the node in every error; its attributes are filled in once checked
  const attrs = new Map<string, AttrValue>();
  const c = new OpContext(spec, node, inputs, opset, what, attrs, isHost);
  if (opset < spec.since) c.fail(`${spec.op} is imported from opset ${spec.since}; this model imports opset ${opset}. Re-export at a newer opset.`);
  readAttributes(spec, node, opset, attrs, c.fail);
  checkInputs(spec, node, inputs, opset, c.fail);
  let outs: Value[];
  try {
    outs = spec.map(c);
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    return c.fail(`importing it failed: ${(e as Error).message}`);
  }
  return (node.output ?? []).map((name, i) => {
    if (!name) return undefined;
    const v = outs[i];
    if (v === undefined) c.fail(`does not compute output ${i} (${spec.outputs[Math.min(i, spec.outputs.length - 1)]})`);
    return v;
  });
}
