/**
 * whileLoop(cond, body, init): a higher-order primitive carrying two sub-graphs, lowered to one ONNX
 * Loop so that a whole solve runs inside one session.run. Forward mode goes through it (the tangent
 * is carried as extra state); reverse mode does not: implicit layers differentiate around their
 * loops (see solvers/fixedPoint), never through them.
 */
import { isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError, TraceError, TransformError } from '../core/errors.js';
import { type Aval, type Graph, avalKey, sameAval } from '../core/ir.js';
import { definePrimitive, type Value } from '../core/primitive.js';
import { type TreeDef, treeFlatten, treeUnflatten } from '../core/pytree.js';
import { bind, evalGraph, Tracer, traceGraph, avalOf } from '../core/trace.js';
import { Tensor } from '../core/tensor.js';
import { jvpGraph } from '../transforms/jvp.js';
import { zerosLike } from '../ops/shape.js';
import { add, less } from '../ops/elementwise.js';

interface WhileParams {
  cond: Graph;
  body: Graph;
  nState: number;
  nCondCaps: number;
  /** Upper bound on iterations (the ONNX trip count), or 0 for none. */
  maxTrips: number;
  /**
   * Body outputs after the state that are recorded, one row per trip (ONNX scan outputs): each
   * comes out as [maxTrips, ...], zero after the trips taken. Needs maxTrips > 0.
   */
  nScan?: number;
  /** 'taken': the recorded rows are those of the trips taken only, not padded to maxTrips (see whileScan). */
  scanRows?: 'maxTrips' | 'taken';
  [k: string]: unknown;
}

export const whileLoopP = definePrimitive<WhileParams>({
  name: 'whileLoop',
  subgraphs: (p) => [p.cond, p.body],
  withSubgraphs: (p, [cond, body]) => ({ ...p, cond: cond!, body: body! }),
  shape: (ins, p) => {
    const state = ins.slice(0, p.nState);
    const outs = p.body.outputs.map((a) => a.aval);
    state.forEach((a, i) => {
      if (!sameAval(a, outs[i]!)) {
        throw new ShapeError(`whileLoop: body changes state ${i} from ${avalKey(a)} to ${avalKey(outs[i]!)}; the loop state must keep its shapes and dtypes`);
      }
    });
    const scans = outs.slice(p.nState).map((a) => ({ shape: [p.maxTrips, ...a.shape], dtype: a.dtype }));
    return [...state.map((a) => ({ shape: a.shape, dtype: a.dtype })), ...scans];
  },
  lower: (ctx, ins, p, info) => {
    const state = ins.slice(0, p.nState);
    const condCaps = ins.slice(p.nState, p.nState + p.nCondCaps);
    const bodyCaps = ins.slice(p.nState + p.nCondCaps);
    const stateAvals = info.inAvals.slice(0, p.nState);
    const scanAvals = p.body.outputs.slice(p.nState).map((a) => a.aval);
    const cond0 = ctx.inline(p.cond, [...state, ...condCaps])[0]!;
    const iterName = ctx.fresh('iter');
    const condIn = ctx.fresh('cond_in');
    const stateIn = state.map(() => ctx.fresh('state_in'));
    const { graph } = ctx.subgraph(
      ctx.fresh('loop_body'),
      [
        { name: iterName, aval: { shape: [], dtype: 'int64' } },
        { name: condIn, aval: { shape: [], dtype: 'bool' } },
        ...stateIn.map((name, i) => ({ name, aval: stateAvals[i]! })),
      ],
      (sub) => {
        const outs = sub.inline(p.body, [...stateIn, ...bodyCaps]);
        const c = sub.inline(p.cond, [...outs.slice(0, p.nState), ...condCaps])[0]!;
        return [c, ...outs];
      },
      [{ shape: [], dtype: 'bool' }, ...stateAvals, ...scanAvals],
    );
    const trips = p.maxTrips > 0 ? ctx.scalar(p.maxTrips, 'int64') : '';
    const outs = ctx.node('Loop', [trips, cond0, ...state], { body: { graph } }, p.nState + scanAvals.length);
    if (p.scanRows === 'taken') return outs;
    // a scan output has one row per trip taken: pad it to maxTrips rows
    const padded = outs.slice(p.nState).map((scan, i) => {
      const rank = scanAvals[i]!.shape.length + 1;
      const taken = ctx.op('Slice', [ctx.op('Shape', [scan]), ctx.ints([0]), ctx.ints([1])]);
      const missing = ctx.op('Sub', [ctx.ints([p.maxTrips]), taken]);
      const zeros = ctx.ints(Array(rank - 1).fill(0));
      const pads = ctx.op('Concat', [ctx.ints(Array(rank).fill(0)), missing, zeros], { axis: 0 });
      return ctx.op('Pad', [scan, pads], { mode: 'constant' });
    });
    return [...outs.slice(0, p.nState), ...padded];
  },
  jvp: (primals, tangents, p) => {
    if (p.nScan) throw new TransformError('whileLoop: forward mode through a loop that records its trips is not supported');
    const state = primals.slice(0, p.nState);
    const condCaps = primals.slice(p.nState, p.nState + p.nCondCaps);
    const bodyCaps = primals.slice(p.nState + p.nCondCaps);
    const tBodyCaps = tangents.slice(p.nState + p.nCondCaps);
    // every float state carries a tangent (the body may make a zero tangent non-zero)
    const carried = state.map((s) => isFloat(avalOf(s).dtype));
    const capMask = tBodyCaps.map((t) => t !== null);
    const jbody = jvpGraph(p.body, [...carried, ...capMask]);
    const tState = state.map((s, i) => (carried[i] ? tangents[i] ?? zerosLike(s) : null)).filter((t): t is Value => t !== null);
    const usedCapT = tBodyCaps.filter((t): t is Value => t !== null);
    const nS = state.length;
    const nT = tState.length;
    const body2 = traceGraph((...xs) => {
      const s = xs.slice(0, nS);
      const ts = xs.slice(nS, nS + nT);
      const caps = xs.slice(nS + nT, nS + nT + bodyCaps.length);
      const tcaps = xs.slice(nS + nT + bodyCaps.length);
      const outs = evalGraph(jbody, [...s, ...caps, ...ts, ...tcaps]);
      return outs.slice(0, nS).concat(outs.slice(nS).filter((_, i) => carried[i]));
    }, [...state, ...tState, ...bodyCaps, ...usedCapT].map(avalOf)).graph;
    const cond2 = traceGraph((...xs) => evalGraph(p.cond, [...xs.slice(0, nS), ...xs.slice(nS + nT)]), [...state, ...tState, ...condCaps].map(avalOf)).graph;
    const outs = bind(whileLoopP, [...state, ...tState, ...condCaps, ...bodyCaps, ...usedCapT], {
      cond: cond2, body: body2, nState: nS + nT, nCondCaps: condCaps.length, maxTrips: p.maxTrips,
    });
    let k = nS;
    return [outs.slice(0, nS), state.map((_, i) => (carried[i] ? outs[k++]! : null))];
  },
});

/**
 * Trace a loop's cond and body on the state `init` and bind whileLoopP. The body gives the next
 * state and a pytree it records on every trip (whileLoop records nothing); `name` heads the errors.
 */
function bindLoop<S>(name: string, condFn: (s: S) => Value, bodyFn: (s: S) => [S, unknown], init: S, params: Pick<WhileParams, 'maxTrips' | 'scanRows'>): { state: S; records: Value[]; recDef: TreeDef } {
  const [leaves, def] = treeFlatten<Value>(init);
  for (const l of leaves) {
    if (!(l instanceof Tracer) && !(l instanceof Tensor)) throw new TraceError(`${name}: the loop state must be a pytree of tensors`);
  }
  const avals: Aval[] = leaves.map(avalOf);
  const cond = traceGraph((...xs) => {
    const c = condFn(treeUnflatten<S>(def, xs));
    const a = avalOf(c);
    if (a.dtype !== 'bool' || a.shape.length !== 0) throw new DTypeError(`${name}: cond must return a bool scalar, got ${avalKey(a)}`);
    return [c];
  }, avals);
  let recDef: TreeDef | undefined;
  const body = traceGraph((...xs) => {
    const [next, rec] = bodyFn(treeUnflatten<S>(def, xs));
    const [outs, d2] = treeFlatten<Value>(next);
    if (outs.length !== leaves.length) throw new ShapeError(`${name}: body returned ${outs.length} state leaves, expected ${leaves.length} (${JSON.stringify(d2)})`);
    const [r, rd] = treeFlatten<Value>(rec);
    recDef = rd;
    return [...outs, ...r];
  }, avals);
  const nScan = body.graph.outputs.length - leaves.length;
  const outs = bind(whileLoopP, [...leaves, ...cond.captured, ...body.captured], {
    cond: cond.graph, body: body.graph, nState: leaves.length, nCondCaps: cond.captured.length, ...params,
    ...(nScan > 0 ? { nScan } : {}),
  });
  return { state: treeUnflatten<S>(def, outs.slice(0, leaves.length)), records: outs.slice(leaves.length), recDef: recDef! };
}

/**
 * Run `body` while `cond` holds, starting from `init` (a pytree of values). `cond` returns a bool
 * scalar. `maxTrips` bounds the iterations (0: unbounded). Closed-over traced values are captured.
 */
export function whileLoop<S>(condFn: (s: S) => Value, bodyFn: (s: S) => S, init: S, opts: { maxTrips?: number } = {}): S {
  return bindLoop('whileLoop', condFn, (s) => [bodyFn(s), []], init, { maxTrips: opts.maxTrips ?? 0 }).state;
}

/**
 * whileLoop that also records a pytree of values on every trip: `body` returns [next state, record].
 * Each recorded leaf comes back stacked as [maxTrips, ...], rows after the trips taken zero.
 *
 * `rows: 'taken'` leaves out the padding (writing maxTrips rows costs more than the trips when
 * few are taken): the records then hold the rows of the trips taken only, though the graph still
 * types them [maxTrips, ...]. Read such records only at rows below the trip count (e.g. with take
 * in a loop over the trips taken), and never by their shape.
 */
export function whileScan<S, R>(condFn: (s: S) => Value, bodyFn: (s: S) => [S, R], init: S, opts: { maxTrips: number; rows?: 'maxTrips' | 'taken' }): { state: S; records: R } {
  if (!(opts.maxTrips > 0)) throw new TraceError('whileScan: maxTrips must be a positive bound (it sizes the records)');
  const { state, records, recDef } = bindLoop('whileScan', condFn, bodyFn, init, { maxTrips: opts.maxTrips, ...(opts.rows === 'taken' ? { scanRows: 'taken' as const } : {}) });
  return { state, records: treeUnflatten<R>(recDef, records) };
}

/** for i in [0, n): state = body(i, state), with i an int64 scalar. */
export function foriLoop<S>(n: number, body: (i: Value, s: S) => S, init: S): S {
  const start = { i: new Tensor('int64', [], new BigInt64Array([0n])), s: init };
  const out = whileLoop<{ i: Value; s: S }>(
    (st) => less(st.i, n),
    (st) => ({ i: add(st.i, 1), s: body(st.i, st.s) }),
    start,
    { maxTrips: n },
  );
  return out.s;
}
