/**
 * docs/onnx-ops.md, generated from the op declarations (scripts/onnx-ops-table.ts writes it;
 * test/onnx-ops-table.test.ts fails when the file is stale).
 */
import type { AttrDecl, Family, InputDecl, OpSpec } from './declare.js';
import { onnxOps } from './index.js';

const FAMILIES: readonly Family[] = ['normalization', 'linear and conv', 'activations', 'shape and indexing', 'reductions', 'maths'];

const takesFloat = (s: OpSpec) => s.inputs.some((i) => i.type === 'float' || i.type === 'numeric' || i.type === 'any');

/** The inputs derivatives reach: float-capable inputs that need not be known at import. */
export const differentiableInputs = (s: OpSpec): InputDecl[] =>
  s.differentiable ? s.inputs.filter((i) => !i.host && !i.typeOnly && (i.type === 'float' || i.type === 'numeric' || i.type === 'any')) : [];

const opsets = (r: readonly [number, number?] | undefined) => (!r ? '' : r[1] === undefined ? ` (opset ${r[0]}+)` : ` (opsets ${r[0]}–${r[1]})`);
const fmt = (v: unknown): string => (Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'string' ? `"${v}"` : String(v));

/** A default that changed with the opset: each value with the opsets it holds in (1 to LAST_OPSET). */
const LAST_OPSET = 22;
function byOpset(f: (opset: number) => number): string {
  const runs: [number, number, number][] = [];
  for (let o = 1; o <= LAST_OPSET; o++) {
    const v = f(o);
    const last = runs[runs.length - 1];
    if (last && last[2] === v) last[1] = o;
    else runs.push([o, o, v]);
  }
  return runs.map(([a, b, v], i) => `${fmt(v)} (${i === runs.length - 1 ? `opset ${a}+` : `opsets ${a}–${b}`})`).join(', ');
}

function attribute(name: string, d: AttrDecl): string {
  const parts = [`\`${name}\` ${d.kind}`];
  if (typeof d.default === 'function') parts.push(`= ${byOpset(d.default)}`);
  else if (d.default !== undefined) parts.push(`= ${fmt(d.default)}`);
  if (d.required) parts.push('required');
  if (d.oneOf) parts.push(`∈ {${d.oneOf.map(fmt).join(', ')}}`);
  if (d.min !== undefined || d.max !== undefined) parts.push(`${d.min !== undefined ? `≥ ${d.min}` : ''}${d.min !== undefined && d.max !== undefined ? ', ' : ''}${d.max !== undefined ? `≤ ${d.max}` : ''}`);
  if (d.axis) parts.push(d.axis === 'r' ? 'axis in [−r, r−1]' : 'axis in [−r, r]');
  if (d.doc) parts.push(`(${d.doc})`);
  return parts.join(' ') + opsets(d.opsets);
}

function input(i: InputDecl): string {
  const tags = [i.optional ? 'optional' : '', i.variadic ? 'variadic' : '', i.host ? 'known at import' : '', i.typeOnly ? 'type only' : ''].filter(Boolean);
  return `${i.name}${tags.length ? ` (${tags.join(', ')})` : ''}${opsets(i.opsets)}`;
}

function row(s: OpSpec): string {
  const f = takesFloat(s);
  const grad = differentiableInputs(s).map((i) => i.name);
  const notes = [s.notes, s.float64 ? `float64: ${s.float64}` : ''].filter(Boolean).join('; ');
  const attrs = Object.entries(s.attrs).map(([n, d]) => attribute(n, d)).join('<br>') || '—';
  return `| ${s.op} | ${s.since} | ${f ? '✓' : '—'} | ${f ? '✓' : '—'} | ${grad.length ? grad.join(', ') : '—'} | ${s.inputs.map(input).join(', ') || '—'} | ${attrs} | ${notes || ''} |`;
}

export function supportedOpsTable(): string {
  const specs = [...onnxOps.values()];
  const lines = [
    '# ONNX operators importOnnx supports',
    '',
    'Generated from the import\'s own op declarations (`src/onnx/ops/`) by `npx tsx scripts/onnx-ops-table.ts`;',
    '`test/onnx-ops-table.test.ts` fails when this file is stale, and the op tests (`test/onnx-ops-*.test.ts`)',
    'check each row: values against onnxruntime in float32 and float64, and derivatives against central',
    'differences in float64 with respect to every input in the derivative column, fed as graph inputs and as',
    'initializers (`importOnnx(bytes).params`, gradients by the initializer\'s ONNX name and layout).',
    '',
    '- **since**: the oldest opset whose semantics the mapping follows; a model importing an older opset is refused.',
    '- **float32, float64**: the op imports in that dtype and runs on onnxruntime-node (CPU) and onnxruntime-web',
    '  (wasm); where onnxruntime has no float64 kernel, the notes say what float64 lowers to.',
    '- **derivative w.r.t.**: the inputs JVPs and VJPs flow to, whether they are graph inputs or initializers.',
    '  Inputs marked "known at import" must be constants, integer initializers or folded shape computations.',
    '- **attributes**: what the import reads, with defaults and the ranges it checks. Any other attribute, an',
    '  attribute of another opset, a value out of range or an attribute of the wrong type is an `OnnxError`',
    '  naming the node; axes are checked against the input\'s rank r.',
    '',
    `${specs.length} operators.`,
    '',
  ];
  for (const family of FAMILIES) {
    const ops = specs.filter((s) => s.family === family).sort((a, b) => a.op.localeCompare(b.op));
    lines.push(`## ${family[0]!.toUpperCase()}${family.slice(1)}`, '');
    lines.push('| op | since | float32 | float64 | derivative w.r.t. | inputs | attributes | notes |', '|---|---|---|---|---|---|---|---|');
    lines.push(...ops.map(row), '');
  }
  return lines.join('\n');
}
