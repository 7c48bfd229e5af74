/** Linearize a batch map at a point, in the current trace: f(z), v ↦ J v and v ↦ Jᵀ v. */
import type { Value } from '../core/primitive.js';
import { avalOf, traceGraph } from '../core/trace.js';
import { jvpGraph } from '../transforms/jvp.js';
import { linearize } from '../transforms/transpose.js';
import * as np from '../np.js';
import type { BatchMap } from './types.js';

export interface LinearizedMap {
  fz: Value;
  jvp(v: Value): Value;
  vjp(ct: Value): Value;
}

export function linearizeMap(f: BatchMap, z: Value): LinearizedMap {
  const { graph, captured } = traceGraph((x) => [f(x)], [avalOf(z)]);
  const n = graph.inputs.length;
  const jg = jvpGraph(graph, [true, ...captured.map(() => false)]);
  // jg inputs: [z, captured..., dz]; outputs: [f(z), J dz]
  const lin = linearize(jg, [...Array(n).fill(false), true], [z, ...captured, null]);
  const zero = () => np.zerosLike(z);
  return {
    fz: lin.outs[0]!,
    jvp: (v) => lin.apply([v])[1] ?? zero(),
    vjp: (ct) => lin.transpose([null, ct])[0] ?? zero(),
  };
}
