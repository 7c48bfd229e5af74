export { fixedPoint, customRoot, type FixedPointResult } from './fixedPoint.js';
export { forwardIteration } from './forward.js';
export { anderson, type AndersonOptions } from './anderson.js';
export { broyden, type BroydenOptions } from './broyden.js';
export { newton, newtonKrylov, gmres, type NewtonKrylovOptions } from './newton.js';
export { resolveSolver, solverNames } from './registry.js';
export { solveCompiled, solveUnrolled, driverInit, driverStep, driverContinue, driverStats, type DriverState } from './driver.js';
export {
  type Solver, type SolverName, type SolveOptions, type FixedPointOptions, type BackwardMode, type SolveStats, type SolveReport,
  type BatchMap, type LoopSettings, type StopOn, type StopCriterion, SOLVE_DEFAULTS, STAT_FIELDS, loopSettings,
} from './types.js';
export { fixedPointHost, type HostSolveOptions, type HostSolveResult } from './host.js';
export { solveOutcome, readStats, type SolveOutcome, type SolveFailure, type ConcreteStats } from './outcome.js';
export { jacobianPenalty, jacobianNoise, type JacobianPenaltyOptions, type JacobianNoiseOptions, type ProbeDistribution } from './jacobianPenalty.js';
