/**
 * The public API shared by the Node entry (index.ts) and the browser entry (browser.ts): what the
 * README documents. Extension points (defining primitives and solvers) are in extend.ts.
 */
export * as np from './np.js';
export { Tensor, tensor, zeros, ones, full, scalar, allFinite, type Shape } from './core/tensor.js';
export type { DType } from './core/dtype.js';
export { Rng } from './core/random.js';
export { DeqError, ShapeError, DTypeError, TransformError, TraceError, OnnxError, NonFiniteError, InputError } from './core/errors.js';
export { treeFlatten, treeUnflatten, treeMap, treeLeaves, type TreeDef } from './core/pytree.js';
export type { Value } from './core/primitive.js';
export { graphToString, type Graph } from './core/ir.js';

export { jit, type JitOptions, type Jitted, type Compiled, type TapValues } from './transforms/jit.js';
export { grad, valueAndGrad, jvp, vjp, type GradOptions } from './transforms/grad.js';
export { vmap, type VmapOptions, type BatchDim } from './transforms/vmap.js';
export { customVjp, type CustomVjpRule } from './transforms/customVjp.js';
export { customJvp } from './transforms/customJvp.js';

export {
  fixedPoint, customRoot, fixedPointHost, forwardIteration, anderson, broyden, newton, newtonKrylov, gmres,
  solveOutcome, readStats, solverNames, SOLVE_DEFAULTS, jacobianPenalty, jacobianNoise,
  type FixedPointResult, type FixedPointOptions, type SolveOptions, type SolveStats, type SolveReport, type SolveOutcome,
  type SolveFailure, type SolverName, type BackwardMode, type StopOn, type StopCriterion, type AndersonOptions, type BroydenOptions,
  type NewtonKrylovOptions, type HostSolveOptions, type HostSolveResult, type ConcreteStats,
  type JacobianPenaltyOptions, type JacobianNoiseOptions, type ProbeDistribution,
} from './solvers/index.js';

export { setRuntimeDefaults, placementOf, type RuntimeOptions, type RuntimeName, type LogLevel, type RunLimits, type IsolateOptions, type NodePlacement } from './backend/runtime.js';
export { toOnnx, type ExportOptions, type ExampleArgs, type ManifestEntry, type Exported } from './onnx/export.js';
export { loadOnnx, type LoadedModel } from './onnx/load.js';
export { importOnnx, type ImportedModel } from './onnx/import.js';
export { replaceInitializers } from './onnx/initializers.js';
export { widenToFloat64 } from './onnx/widen.js';
export {
  checkParity, compareRuns, inProcessRunner, randomParityInputs, relativeDifference, PARITY_TOLERANCE, PARITY_SOLVE,
  type ParityOptions, type ParityReport, type ParityRow, type ParityRunner, type ParityColumn, type BuiltInRuntime, type PlacementSummary,
} from './onnx/parity.js';
export { runParityJob, type ParityInputs, type ParityJob, type ParitySolve, type CellRun, type GraphPlacement, type RunHooks } from './onnx/parity-job.js';
export * as parityWire from './onnx/parity-wire.js';
export type { TensorInfo } from './onnx/info.js';

export * as nn from './nn/index.js';
