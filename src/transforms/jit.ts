/**
 * jit: trace once per input signature (pytree structure, shapes, dtypes, static numbers), lower to
 * ONNX and cache the onnxruntime session. Inside another trace a jitted function is inlined, so
 * transforms see through it (vjp of a jit, jit of a grad, ...).
 */
import { finiteOnce, Tensor } from '../core/tensor.js';
import { NonFiniteError, TraceError } from '../core/errors.js';
import { type Aval, avalKey, type Graph } from '../core/ir.js';
import { matchLeaves, treeDefKey, treeFlatten, treePaths, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { isTracing, Tracer } from '../core/trace.js';
import { PORTABLE_TARGET } from '../core/primitive.js';
import { encodeModel, lowerModel } from '../backend/lower.js';
import { compileTarget, createSession, type RuntimeOptions, type Session } from '../backend/runtime.js';
import { stage } from './stage.js';

export interface JitOptions extends RuntimeOptions {
  /** Throw a NonFiniteError when an input holds NaN or Inf (default true). */
  checkFinite?: boolean;
  /** Names for the ONNX graph inputs (default: pytree paths). */
  name?: string;
  /**
   * Use onnxruntime's contrib operators (com.microsoft, e.g. Inverse for the dense solve) where every
   * execution provider tried has them (default true); false compiles standard ONNX only.
   */
  contribOps?: boolean;
}

/** Named side outputs (solver stats) of the last run: by tap label, one record per tap in trace order. */
export type TapValues = Record<string, Record<string, Tensor>[]>;

export interface Compiled {
  /** The graph that runs: expanded, with the taps as its trailing outputs. */
  graph: Graph;
  session: Session;
  outDef: TreeDef;
  nOut: number;
  taps: { label: string; names: readonly string[] }[];
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
  /**
   * Release every cached onnxruntime session (one per signature seen). The function stays usable:
   * a later call compiles again.
   */
  release(): Promise<void>;
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

export function jit<F extends (...args: any[]) => any>(fn: F, opts: JitOptions = {}): Jitted<F> {
  const cache = new Map<string, Promise<Compiled>>();
  let traces = 0;
  const compile = (...args: unknown[]): Promise<Compiled> => {
    const { key } = signatureOf(args);
    let c = cache.get(key);
    if (!c) {
      traces++;
      c = (async () => {
        const { graph, outDef, nOut, taps, dynamic } = stage(fn, args, 'jit', opts.contribOps === false ? PORTABLE_TARGET : compileTarget(opts));
        const paths = treePaths(treeFlatten(args)[1]);
        const names = dynamic.map((j) => paths[j]!);
        const model = encodeModel(lowerModel(graph, {
          inputNames: names.map(sanitize),
          outputNames: graph.outputs.map((_, i) => (i < nOut ? `out_${i}` : `tap_${i - nOut}`)),
          graphName: opts.name ?? (fn.name || 'jit'),
        }));
        const session = await createSession(model, opts, `jit(${opts.name ?? (fn.name || 'anonymous')})`);
        return { graph, session, outDef, nOut, taps, model };
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
    // onnxruntime runs off the JS thread: new inputs are checked while it works, and a failed
    // check discards the run's result
    const pending = c.session.run(inputs);
    if (opts.checkFinite !== false) {
      try {
        checkInputs(args, leaves);
      } catch (e) {
        pending.catch(() => undefined);
        return Promise.reject(e);
      }
    }
    return pending.then((outs) => {
      if (c.taps.length) {
        const taps: TapValues = {};
        let k = c.nOut;
        for (const t of c.taps) (taps[t.label] ??= []).push(Object.fromEntries(t.names.map((n) => [n, outs[k++]!])));
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
  jitted.compile = (...args: Parameters<F>) => compile(...args);
  jitted.release = async () => {
    const pending = [...cache.values()];
    cache.clear();
    last = undefined;
    for (const c of pending) await c.then((x) => x.session.release(), () => undefined);
  };
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
 * Throw on a non-finite input. Tensors are immutable by convention, so each is checked once
 * (`finiteOnce`): a training loop that feeds new tensors pays one pass over each, a repeated call
 * pays nothing.
 */
function checkInputs(args: unknown[], leaves: unknown[]): void {
  for (let i = 0; i < leaves.length; i++) {
    const l = leaves[i];
    if (!(l instanceof Tensor) || finiteOnce(l)) continue;
    const path = treePaths(treeFlatten(args)[1])[i];
    throw new NonFiniteError(
      `input ${path} (${l.dtype}[${l.shape}]) holds NaN or Inf, which would poison every result. ` +
        'Fix the data, or pass { checkFinite: false } to jit to allow it.',
    );
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

