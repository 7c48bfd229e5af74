/**
 * deq-onnx/extend: the extension points. Define a primitive (its shape rule, ONNX lowering, JVP,
 * transpose and batching rules in one declaration), write a solver (pure init/step over np), and
 * reach the pieces they are built from. The built-in primitives are found by name in `primitives()`.
 */
import './np.js'; // registers every built-in primitive

export {
  definePrimitive, primitives, ruleOf, Undefined, PORTABLE_TARGET,
  type Primitive, type LowerCtx, type LowerInfo, type AttrValue, type Value, type Target,
} from './core/primitive.js';
export { bind, bind1, tap, traceGraph, evalGraph, avalOf, isTracing, Tracer, type TracedGraph } from './core/trace.js';
export { Var, Lit, type Aval, type Atom, type Eqn, type Graph, type Params, type Tap } from './core/ir.js';
export { jvpGraph, jvpInterpret } from './transforms/jvp.js';
export { linearize, vjpInterpret, type Linearized } from './transforms/transpose.js';
export { expandGraph } from './transforms/expand.js';
export { stage, type Staged } from './transforms/stage.js';
export {
  resolveSolver, loopSettings, solveCompiled, solveUnrolled, driverInit, driverStep, driverContinue, driverStats, STAT_FIELDS,
  type Solver, type BatchMap, type LoopSettings, type DriverState,
} from './solvers/index.js';
export { createSession, compileTarget, nodePlacement, type NodePlacement, type Session } from './backend/runtime.js';
export { lowerModel, encodeModel, OPSET, CONTRIB_OPSET } from './backend/lower.js';
export { whileScan } from './control/loop.js';
