/**
 * einsum for one or two operands, written with transpose, reshape, broadcast, sum and one batched
 * matmul: labels only one operand has (and the output lacks) are summed out first, the rest sort
 * into batch (both operands and the output), contracted (both operands) and free labels.
 * `...` stands for broadcast leading axes. A label twice in one operand (a diagonal) is not
 * supported.
 */
import { ShapeError } from '../core/errors.js';
import type { Value } from '../core/primitive.js';
import { sizeOf } from '../core/tensor.js';
import { matmul } from './linalg.js';
import { broadcastTo, reshape, sum, transpose } from './shape.js';
import { fmtShape, shapeOf } from './util.js';

interface Parsed {
  inputs: string[][];
  output: string[];
}

/** Labels per operand and of the output; `...` becomes one label per broadcast axis. */
function parse(equation: string, shapes: readonly (readonly number[])[]): Parsed {
  const eq = equation.replace(/\s+/g, '');
  const bad = (why: string): never => {
    throw new ShapeError(`einsum: equation '${equation}' ${why}`);
  };
  if (!/^[A-Za-z.,]*(->[A-Za-z.]*)?$/.test(eq)) bad('may hold only letters, commas, "..." and one "->"');
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== shapes.length) bad(`names ${terms.length} operands, given ${shapes.length}`);
  const ellipsisRank = Math.max(0, ...terms.map((t, i) => (t.includes('...') ? shapes[i]!.length - t.replace('...', '').length : 0)));
  const ell = Array.from({ length: ellipsisRank }, (_, i) => `…${i}`);
  const split = (t: string, rank?: number): string[] => {
    if ((t.match(/\.\.\./g) ?? []).length > 1 || t.replace('...', '').includes('.')) bad('has a stray "."');
    if (!t.includes('...')) return [...t];
    const [a, b] = t.split('...') as [string, string];
    const n = rank === undefined ? ellipsisRank : rank - a.length - b.length;
    if (n < 0) bad(`has more labels than operand axes`);
    return [...a, ...ell.slice(ellipsisRank - n), ...b];
  };
  const inputs = terms.map((t, i) => split(t, shapes[i]!.length));
  inputs.forEach((labels, i) => {
    if (labels.length !== shapes[i]!.length) bad(`gives ${labels.length} labels to operand ${i} of shape ${fmtShape(shapes[i]!)}`);
    if (new Set(labels).size !== labels.length) bad(`repeats a label within operand ${i} (a diagonal), which is not supported`);
  });
  let output: string[];
  if (rhs === undefined) {
    // implicit output: broadcast axes, then labels seen once, alphabetically
    const counts = new Map<string, number>();
    for (const l of inputs.flat()) counts.set(l, (counts.get(l) ?? 0) + 1);
    output = [...ell, ...[...counts].filter(([l, n]) => n === 1 && !l.startsWith('…')).map(([l]) => l).sort()];
  } else {
    output = split(rhs);
    if (new Set(output).size !== output.length) bad('repeats an output label');
    for (const l of output) if (!inputs.some((ls) => ls.includes(l))) bad(`has output label ${l} that no operand has`);
  }
  return { inputs, output };
}

/** Sum out the labels nobody else needs, then order the rest as `order`. */
function reduceTo(x: Value, labels: string[], keep: (l: string) => boolean): [Value, string[]] {
  const drop = labels.flatMap((l, i) => (keep(l) ? [] : [i]));
  const y = drop.length ? sum(x, drop) : x;
  return [y, labels.filter(keep)];
}

const permute = (x: Value, from: string[], to: string[]): Value => transpose(x, to.map((l) => from.indexOf(l)));

/** Einstein summation over one or two operands, e.g. einsum('bij,bjk->bik', a, b). */
export function einsum(equation: string, ...operands: Value[]): Value {
  if (operands.length < 1 || operands.length > 2) throw new ShapeError(`einsum: takes one or two operands, got ${operands.length}`);
  const shapes = operands.map(shapeOf);
  const { inputs, output } = parse(equation, shapes);
  const size = new Map<string, number>();
  inputs.forEach((ls, i) => ls.forEach((l, k) => {
    const d = shapes[i]![k]!;
    const s = size.get(l);
    if (s !== undefined && s !== d && s !== 1 && d !== 1) {
      throw new ShapeError(`einsum: label ${l.startsWith('…') ? '...' : l} has sizes ${s} and ${d} in '${equation}' (shapes ${shapes.map(fmtShape).join(', ')})`);
    }
    size.set(l, s === undefined || s === 1 ? d : s);
  }));
  const inOut = (l: string) => output.includes(l);
  if (operands.length === 1) {
    const [y, ls] = reduceTo(operands[0]!, inputs[0]!, inOut);
    return permute(y, ls, output);
  }
  const [la, lb] = inputs as [string[], string[]];
  const [a0, ka] = reduceTo(operands[0]!, la, (l) => inOut(l) || lb.includes(l));
  const [b0, kb] = reduceTo(operands[1]!, lb, (l) => inOut(l) || la.includes(l));
  const batch = output.filter((l) => ka.includes(l) && kb.includes(l));
  const contracted = ka.filter((l) => kb.includes(l) && !inOut(l));
  const freeA = ka.filter((l) => !kb.includes(l));
  const freeB = kb.filter((l) => !ka.includes(l));
  // shared labels of size 1 on one side broadcast to the other's size
  const dims = (ls: string[]) => ls.map((l) => size.get(l)!);
  const a = broadcastTo(permute(a0, ka, [...batch, ...freeA, ...contracted]), dims([...batch, ...freeA, ...contracted]));
  const b = broadcastTo(permute(b0, kb, [...batch, ...contracted, ...freeB]), dims([...batch, ...contracted, ...freeB]));
  const [nb, nfa, nc, nfb] = [dims(batch), sizeOf(dims(freeA)), sizeOf(dims(contracted)), sizeOf(dims(freeB))];
  const y = matmul(reshape(a, [...nb, nfa, nc]), reshape(b, [...nb, nc, nfb]));
  const labels = [...batch, ...freeA, ...freeB];
  return permute(reshape(y, dims(labels)), labels, output);
}
