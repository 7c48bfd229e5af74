/**
 * User-facing differentiation: jvp, vjp, grad, valueAndGrad. Each traces the function into a
 * graph and applies the graph transforms inline in the current trace; called with concrete tensors
 * outside any trace, the whole thing is compiled once per signature (see jit) and returns a Promise.
 */
import { isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError, TraceError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import type { Value } from '../core/primitive.js';
import { treeFlatten, treeUnflatten } from '../core/pytree.js';
import { full } from '../core/tensor.js';
import { avalOf, evalGraph } from '../core/trace.js';
import { autoJit, needsStaging } from './jit.js';
import { isDyn, traceArgs } from './traceArgs.js';
import { jvpInterpret } from './jvp.js';
import { zerosLike } from '../ops/shape.js';
import { vjpInterpret } from './transpose.js';

export interface GradOptions {
  /** Which positional arguments to differentiate (default 0). */
  argnums?: number | number[];
  /** The function returns [value, aux]; aux is passed through undifferentiated. */
  hasAux?: boolean;
}

/** Which dynamic leaves belong to the differentiated arguments. */
function gradMask(args: unknown[], argnums: number[], leaves: unknown[], dyn: number[]): boolean[] {
  const owner: number[] = [];
  args.forEach((a, i) => { treeFlatten(a)[0].forEach(() => owner.push(i)); });
  return dyn.map((j) => {
    if (!argnums.includes(owner[j]!)) return false;
    const a = avalOf(leaves[j] as Value);
    if (!isFloat(a.dtype)) {
      throw new DTypeError(`grad: argument ${owner[j]} has an ${a.dtype} leaf [${a.shape}]; gradients are defined for float32/float64 only. Exclude it with argnums or make it float.`);
    }
    return true;
  });
}

function gradsTree(args: unknown[], argnums: number[], dyn: number[], mask: boolean[], grads: Value[]): unknown {
  let k = 0;
  const gradOfLeaf = new Map<number, Value>();
  dyn.forEach((j, i) => { if (mask[i]) gradOfLeaf.set(j, grads[k++]!); });
  let offset = 0;
  const perArg = args.map((a) => {
    const [ls, d] = treeFlatten(a);
    const out = treeUnflatten(d, ls.map((_, i) => gradOfLeaf.get(offset + i) ?? null));
    offset += ls.length;
    return out;
  });
  return argnums.length === 1 ? perArg[argnums[0]!] : argnums.map((i) => perArg[i]);
}

/** f → (args) => [value, grads] (or [[value, aux], grads] with hasAux). */
export function valueAndGrad<F extends (...args: any[]) => any>(f: F, opts: GradOptions = {}) {
  const argnums = opts.argnums === undefined ? [0] : typeof opts.argnums === 'number' ? [opts.argnums] : opts.argnums;
  const staged = (...args: unknown[]): [unknown, unknown] => {
    const { graph, captured, leaves, dyn, outDef } = traceArgs(f, args);
    const mask = [...gradMask(args, argnums, leaves, dyn), ...captured.map(() => false)];
    const nOut = graph.outputs.length;
    const lossAval = graph.outputs[0]?.aval;
    if (!lossAval || lossAval.shape.length !== 0 || !isFloat(lossAval.dtype)) {
      throw new ShapeError(`grad: the function must return a float scalar${opts.hasAux ? ' as the first element of [value, aux]' : ''}, got ${lossAval ? `${lossAval.dtype}[${lossAval.shape}]` : 'nothing'}`);
    }
    const cts = [full([], 1, lossAval.dtype), ...Array(nOut - 1).fill(null)];
    const primals = [...dyn.map((j) => leaves[j] as Value), ...captured];
    const [outs, grads] = vjpInterpret(graph, mask, primals, cts);
    const value = treeUnflatten(outDef, outs);
    return [value, gradsTree(args, argnums, dyn, mask, grads)];
  };
  const fn = (...args: Parameters<F>): any => (needsStaging(args) ? staged(...args) : autoJit(staged)(...args));
  return fn;
}

/** f → (args) => grads (with hasAux: [grads, aux]). */
export function grad<F extends (...args: any[]) => any>(f: F, opts: GradOptions = {}) {
  const vg = valueAndGrad(f, opts);
  const pick = (r: [unknown, unknown]) => (opts.hasAux ? [r[1], (r[0] as unknown[])[1]] : r[1]);
  const staged = (...args: unknown[]) => pick(vg(...(args as Parameters<F>)));
  return (...args: Parameters<F>): any => (needsStaging(args) ? staged(...args) : autoJit(staged)(...args));
}

/**
 * Forward mode: jvp(f, primals, tangents) → [outputs, output tangents]. `primals` and `tangents`
 * are arrays of arguments with the same structure.
 */
export function jvp(f: (...args: any[]) => any, primals: unknown[], tangents: unknown[]): any {
  const staged = memo(jvpStaged, f, () => (ps: unknown[], ts: unknown[]) => {
    const { graph, captured, leaves, dyn, outDef } = traceArgs(f, ps);
    const [tl] = treeFlatten(ts);
    if (tl.length !== leaves.length) throw new TraceError('jvp: tangents must have the same structure as primals');
    const tans = [...dyn.map((j) => (isDyn(tl[j]) && isFloat(avalOf(leaves[j] as Value).dtype) ? (tl[j] as Value) : null)), ...captured.map(() => null)];
    const [outs, touts] = jvpInterpret(graph, [...dyn.map((j) => leaves[j] as Value), ...captured], tans);
    return [treeUnflatten(outDef, outs), treeUnflatten(outDef, touts.map((t, i) => t ?? zerosLike(outs[i]!)))];
  });
  return needsStaging([primals, tangents]) ? staged(primals, tangents) : autoJit(staged)(primals, tangents);
}

/**
 * Reverse mode: vjp(f, ...primals) → [outputs, pullback]. Inside a trace the pullback adds the
 * transposed graph to the trace; outside, it returns a Promise and the pullback is compiled too.
 */
export function vjp(f: (...args: any[]) => any, ...primals: unknown[]): any {
  const pullbackFn = memo(vjpStaged, f, () => (ps: unknown[], cts: unknown) => {
    const { graph, captured, leaves, dyn, outDef } = traceArgs(f, ps);
    const mask = [...dyn.map((j) => isFloat(avalOf(leaves[j] as Value).dtype)), ...captured.map(() => false)];
    const [ctl] = treeFlatten(cts);
    const [outs, grads] = vjpInterpret(graph, mask, [...dyn.map((j) => leaves[j] as Value), ...captured], ctl as Value[]);
    const argnums = ps.map((_, i) => i);
    return [treeUnflatten(outDef, outs), gradsTree(ps, argnums.length === 1 ? [0] : argnums, dyn, mask, grads)];
  });
  if (needsStaging(primals)) {
    const { graph, captured, leaves, dyn, outDef } = traceArgs(f, primals);
    const out = treeUnflatten(outDef, inlineOuts(graph, [...dyn.map((j) => leaves[j] as Value), ...captured]));
    const pullback = (ct: unknown) => {
      const r = pullbackFn(primals, ct)[1];
      return primals.length === 1 ? [r] : r;
    };
    return [out, pullback];
  }
  return (async () => {
    const out = await autoJit(f)(...primals);
    const pb = autoJit(pullbackFn);
    const pullback = async (ct: unknown) => {
      const r = ((await pb(primals, ct)) as unknown[])[1];
      return primals.length === 1 ? [r] : r;
    };
    return [out, pullback];
  })();
}

const inlineOuts = (g: Graph, xs: Value[]) => evalGraph(g, xs);

/** One staged function per user function, so repeated top-level calls hit the compile cache. */
const jvpStaged = new WeakMap<object, (...a: any[]) => unknown>();
const vjpStaged = new WeakMap<object, (...a: any[]) => unknown>();
function memo<T extends (...a: any[]) => unknown>(cache: WeakMap<object, (...a: any[]) => unknown>, f: object, make: () => T): T {
  let s = cache.get(f);
  if (!s) cache.set(f, (s = make()));
  return s as T;
}
