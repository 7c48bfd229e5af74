/**
 * jit: trace once per input signature (pytree structure, shapes, dtypes, static numbers), lower to
 * ONNX and cache the onnxruntime session. Inside another trace a jitted function is inlined, so
 * transforms see through it (vjp of a jit, jit of a grad, ...).
 */
import { allFinite, Tensor } from '../core/tensor.js';
import { NonFiniteError, TraceError } from '../core/errors.js';
import { type Aval, avalKey, type Graph } from '../core/ir.js';
import { matchLeaves, treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { isTracing, Tracer } from '../core/trace.js';
import { encodeModel, lowerModel } from '../backend/lower.js';
import { createSession, type RuntimeOptions, type Session } from '../backend/runtime.js';
import { traceArgs } from './traceArgs.js';

export interface JitOptions extends RuntimeOptions {
  /** Throw a NonFiniteError when an input holds NaN or Inf (default true). */
  checkFinite?: boolean;
  /** Names for the ONNX graph inputs (default: pytree paths). */
  name?: string;
}

/** Named side outputs (solver stats) of the last run, by tap label. */
export type TapValues = Record<string, Tensor[][]>;

export interface Compiled {
  graph: Graph;
  session: Session;
  outDef: TreeDef;
  nOut: number;
  taps: { label: string; count: number }[];
  model: Uint8Array;
}

export interface Jitted<F extends (...args: any[]) => any> {
  (...args: Parameters<F>): any;
  /** Side outputs (solver stats) of the most recent concrete call. */
  lastTaps: TapValues;
  /** Compile (or fetch from the cache) for these arguments without running. */
  compile(...args: Parameters<F>): Promise<Compiled>;
  /** Number of traces so far (a retrace happens once per new signature). */
  readonly traceCount: number;
  readonly cacheSize: number;
}

/** A leaf is dynamic (a graph input) when it is a tensor; numbers are static (baked into the graph). */
export function signatureOf(args: unknown[]): { key: string; leaves: unknown[]; def: TreeDef } {
  const [leaves, def] = treeFlatten(args);
  const parts = leaves.map((l) => {
    if (l instanceof Tensor) return avalKey(l);
    if (typeof l === 'number' || typeof l === 'boolean' || typeof l === 'string') return `#${String(l)}`;
    if (l instanceof Tracer) throw new TraceError('internal: tracer in a concrete signature');
    throw new TraceError(`jit: argument leaf of type ${typeof l} (${String(l)}) is not a Tensor or number`);
  });
  return { key: `${treeDefKey(def)}|${parts.join(';')}`, leaves, def };
}

/** Paths of pytree leaves ("0.W", "1") for naming graph inputs. */
export function leafPaths(tree: unknown, prefix = ''): string[] {
  // walk the pytree structure itself, so paths and leaves always pair up
  const walk = (d: TreeDef, p: string): string[] => {
    switch (d.kind) {
      case 'leaf': return [p || 'x'];
      case 'none': return [];
      case 'array': return d.children.flatMap((c, i) => walk(c, p ? `${p}.${i}` : `${i}`));
      case 'object': return d.children.flatMap((c, i) => walk(c, p ? `${p}.${d.keys[i]}` : d.keys[i]!));
    }
  };
  return walk(treeFlatten(tree)[1], prefix);
}

/** Trace `fn` on the dynamic leaves of `args` (static leaves stay as they are). */
export function traceWithArgs(fn: (...args: any[]) => unknown, args: unknown[]): { graph: Graph; outDef: TreeDef; nOut: number; dynamic: number[] } {
  const { graph, captured, outDef, dyn } = traceArgs(fn, args);
  if (captured.length) throw new TraceError('jit: the function closed over a traced value from an enclosing transform; pass it as an argument');
  return { graph, outDef, nOut: graph.outputs.length, dynamic: dyn };
}

export function jit<F extends (...args: any[]) => any>(fn: F, opts: JitOptions = {}): Jitted<F> {
  const cache = new Map<string, Promise<Compiled>>();
  let traces = 0;
  const compile = (...args: unknown[]): Promise<Compiled> => {
    const { key } = signatureOf(args);
    let c = cache.get(key);
    if (!c) {
      traces++;
      c = (async () => {
        const { graph: g0, outDef, nOut } = traceWithArgs(fn, args);
        // taps (solver stats) become extra outputs
        const tapAtoms = g0.taps.flatMap((t) => t.atoms);
        const graph: Graph = { ...g0, outputs: [...g0.outputs, ...tapAtoms], taps: [] };
        const [leaves] = treeFlatten(args);
        const names = leafPaths(args).filter((_, i) => leaves[i] instanceof Tensor);
        const model = encodeModel(lowerModel(graph, {
          inputNames: names.map(sanitize),
          outputNames: graph.outputs.map((_, i) => (i < nOut ? `out_${i}` : `tap_${i - nOut}`)),
          graphName: opts.name ?? (fn.name || 'jit'),
        }));
        const session = await createSession(model, opts);
        return { graph, session, outDef, nOut, taps: g0.taps.map((t) => ({ label: t.label, count: t.atoms.length })), model };
      })();
      cache.set(key, c);
      c.catch(() => cache.delete(key));
    }
    return c;
  };
  // the signature of the previous call: a repeat call skips building the signature string
  let last: { def: TreeDef; leaves: unknown[]; compiled: Compiled } | undefined;
  const run = (c: Compiled, args: unknown[], leaves: unknown[]) => {
    const inputs: Tensor[] = [];
    for (const l of leaves) if (l instanceof Tensor) inputs.push(l);
    if (opts.checkFinite !== false) checkInputs(args, leaves);
    return c.session.run(inputs).then((outs) => {
      if (c.taps.length) {
        const taps: TapValues = {};
        let k = c.nOut;
        for (const t of c.taps) (taps[t.label] ??= []).push(outs.slice(k, (k += t.count)));
        jitted.lastTaps = taps;
        return treeUnflatten(c.outDef, outs.slice(0, c.nOut));
      }
      if (jitted.lastTaps !== NO_TAPS) jitted.lastTaps = NO_TAPS;
      return c.outDef.kind === 'leaf' ? outs[0] : treeUnflatten(c.outDef, outs);
    });
  };
  const jitted = ((...args: unknown[]) => {
    if (isTracing()) return fn(...args);
    // a repeat of the previous call's signature: match the structure without rebuilding it, and
    // run without an extra await
    if (last) {
      const leaves: unknown[] = [];
      if (matchLeaves(last.def, args, leaves) && sameLeaves(last.leaves, leaves)) {
        try {
          return run(last.compiled, args, leaves);
        } catch (e) {
          return Promise.reject(e);
        }
      }
    }
    const [leaves, def] = treeFlatten(args);
    if (leaves.some((l) => l instanceof Tracer)) return fn(...args);
    return compile(...args).then((c) => {
      last = { def, leaves: leaves.map((l) => (l instanceof Tensor ? { shape: l.shape, dtype: l.dtype } : l)), compiled: c };
      return run(c, args, leaves);
    });
  }) as unknown as Jitted<F>;
  jitted.lastTaps = NO_TAPS;
  jitted.compile = compile as never;
  Object.defineProperty(jitted, 'traceCount', { get: () => traces });
  Object.defineProperty(jitted, 'cacheSize', { get: () => cache.size });
  return jitted;
}

const sanitize = (s: string) => s.replace(/[^A-Za-z0-9_.]/g, '_');

/** Same avals of tensor leaves and same static leaves (the structure was matched already). */
function sameLeaves(known: unknown[], leaves: unknown[]): boolean {
  if (known.length !== leaves.length) return false;
  for (let i = 0; i < leaves.length; i++) {
    const a = known[i];
    const b = leaves[i];
    if (b instanceof Tensor) {
      if (!a || typeof a !== 'object') return false;
      const { shape, dtype } = a as Aval;
      if (dtype !== b.dtype || shape.length !== b.shape.length) return false;
      for (let d = 0; d < shape.length; d++) if (shape[d] !== b.shape[d]) return false;
    } else if (a !== b || b instanceof Tracer) return false;
  }
  return true;
}

const NO_TAPS: TapValues = Object.freeze({}) as TapValues;

/**
 * Tensors already found finite. Tensors are immutable by convention, so each is checked once;
 * a training loop that feeds new tensors pays one pass over each, a repeated call pays nothing.
 */
const knownFinite = new WeakSet<Tensor>();

function checkInputs(args: unknown[], leaves: unknown[]): void {
  for (let i = 0; i < leaves.length; i++) {
    const l = leaves[i];
    if (!(l instanceof Tensor) || knownFinite.has(l)) continue;
    if (allFinite(l)) knownFinite.add(l);
    else {
      const path = leafPaths(args)[i];
      throw new NonFiniteError(
        `input ${path} (${l.dtype}[${l.shape}]) holds NaN or Inf, which would poison every result. ` +
          'Fix the data, or pass { checkFinite: false } to jit to allow it.',
      );
    }
  }
}

/** Functions called with concrete tensors outside jit are compiled implicitly (cached per function). */
const autoJits = new WeakMap<object, Jitted<any>>();
export function autoJit<F extends (...args: any[]) => any>(fn: F): Jitted<F> {
  let j = autoJits.get(fn);
  if (!j) {
    j = jit(fn);
    autoJits.set(fn, j);
  }
  return j;
}

export const needsStaging = (args: unknown[]): boolean =>
  isTracing() || treeFlatten(args)[0].some((l) => l instanceof Tracer);

